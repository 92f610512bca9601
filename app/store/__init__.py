"""Persistence: SQLModel tables, the engine and sessions, and the Alembic migrations.

Labs live in the database rather than in process memory, so any number of workers or replicas
can serve the same learner.
"""
