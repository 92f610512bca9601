"""The pure simulation engine: standard library only, deterministic given a seed.

Nothing in this package imports the web stack (fastapi, jinja2, sqlmodel, pydantic, plotly);
`tests/sim/test_import_boundary.py` enforces it.
"""
