"""The course holds: every lesson validates in both languages, and every solution reaches
every goal in a fresh lab while no goal is met before its step's solution."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.curriculum.model import load_course
from app.curriculum.runner import check_lesson
from app.curriculum.validate import validate_course

COURSE = load_course()


def test_course_validates() -> None:
    assert validate_course(COURSE) == []


def test_course_has_24_lessons_or_more_in_tracks() -> None:
    assert len(COURSE.ordered()) >= 24
    assert all(track.lessons for track in COURSE.tracks)


@pytest.mark.parametrize("lesson_id", [lesson.id for lesson in COURSE.ordered()])
def test_lesson_solution_reaches_every_goal(lesson_id: str) -> None:
    assert check_lesson(COURSE.lessons[lesson_id]) == []


def test_cli_lessons_check_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lessons", "check", "service-endpoints"]) == 0
    assert "ok   service-endpoints" in capsys.readouterr().out


def test_cli_lessons_check_unknown_lesson(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lessons", "check", "no-such-lesson"]) == 2
    assert "unknown lesson: no-such-lesson" in capsys.readouterr().err


def test_seed_corrections_are_taught() -> None:
    """The seed's mistakes (-S saves, -I restores, userspace default) are corrected."""
    texts = " ".join(lesson.recap["en"] + lesson.prose["en"] for lesson in COURSE.ordered())
    assert "-S lists" in texts and "-I inserts" in texts
    assert "removed in v1.26" in texts and "GA since v1.33" in texts


def test_coverage_table_names_only_real_lessons() -> None:
    """lessons/COVERAGE.md (the README's seed-concept table) points at lessons that exist."""
    import re

    text = (Path(__file__).resolve().parents[2] / "lessons" / "COVERAGE.md").read_text()
    rows = "\n".join(line for line in text.splitlines() if line.startswith("|"))
    named = set(re.findall(r"`([a-z0-9-]+)`", rows))
    assert named and named <= set(COURSE.lessons)
    assert set(COURSE.lessons) <= named  # every lesson appears in the table
