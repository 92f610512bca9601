"""The engine stays pure: nothing under app/sim imports the web or database stack."""

from __future__ import annotations

import ast

from app.config import ROOT

FORBIDDEN = {"fastapi", "starlette", "jinja2", "sqlmodel", "sqlalchemy", "pydantic", "plotly"}
SIM = ROOT / "app" / "sim"


def forbidden_imports(source: str) -> list[str]:
    """Top-level package names from FORBIDDEN that `source` imports, in order of appearance."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def test_checker_catches_every_spelling() -> None:
    snippet = (
        "import os\nimport fastapi\nfrom sqlalchemy.orm import Session\n"
        "import plotly.graph_objects as go\ndef f():\n    from pydantic import BaseModel\n"
        "from . import jinja2\nimport starlettex\n"
    )
    assert forbidden_imports(snippet) == [
        "fastapi",
        "sqlalchemy.orm",
        "plotly.graph_objects",
        "pydantic",
    ]


def test_sim_imports_the_standard_library_only() -> None:
    files = sorted(SIM.rglob("*.py"))
    assert files, f"no modules found under {SIM}"
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in files
        if (found := forbidden_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
