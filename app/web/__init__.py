"""The web tier: FastAPI app factory, routers, dependencies, templating and i18n.

It renders what the engine returns and never re-derives netfilter semantics itself.
"""
