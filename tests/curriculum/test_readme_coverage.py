"""The README lists which lesson covers which concept of the course chapter; it must say what
lessons/COVERAGE.md (kept in step with the lessons by test_course) says."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _seed_table(text: str) -> str:
    start = text.index("| Seed section |")
    return text[start : text.index("\n\n", start)].strip()


def test_readme_carries_the_coverage_table() -> None:
    coverage = _seed_table((ROOT / "lessons" / "COVERAGE.md").read_text(encoding="utf-8"))
    readme = _seed_table((ROOT / "README.md").read_text(encoding="utf-8"))
    assert readme == coverage
