"""The live classroom's service layer: sessions, roles, answers and their views, all read from
and written to the database (app/store/classroom.py) so that any worker serves any browser."""
