"""The lesson format, read from disk.

`lessons/index.yaml` orders lesson ids into tracks; `lessons/<id>/lesson.yaml` holds the
lesson's data (title, scenario, mode, seed, setup, steps), and `prose.zh.md` /
`prose.en.md` its text. A step's `solution` entry may name a file of the lesson folder
(`{run: "iptables-restore --noflush", stdin: rules.v4}`) so rulesets stay real
iptables-save text, never escaped strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LANGS = ("zh", "en")
LESSONS_DIR = Path(__file__).resolve().parents[2] / "lessons"


class LessonFormatError(ValueError):
    """A lesson file that cannot be read at all (bad YAML, missing file)."""


@dataclass(frozen=True)
class Command:
    """One console entry of a solution or setup: the line, its stdin, and whether it is
    expected to fail (e.g. `curl` to a Service without endpoints)."""

    line: str
    stdin: str = ""
    fails: bool = False

    def console_text(self) -> str:
        """What a learner pastes: the line, with a here-document when it reads stdin."""
        if not self.stdin:
            return self.line
        body = self.stdin if self.stdin.endswith("\n") else self.stdin + "\n"
        return f"{self.line} <<EOF\n{body}EOF"


@dataclass(frozen=True)
class Step:
    """One step: what to do, the goal that says it is done, hints (weak to strong) and the
    console commands (or the choice) that solve it."""

    instruction: dict[str, str]
    goal: dict[str, Any]
    hints: list[dict[str, str]]
    solution: list[Command]
    answer: int | None = None
    explain: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Lesson:
    id: str
    title: dict[str, str]
    summary: dict[str, str]
    prose: dict[str, str]
    scenario: str
    mode: str
    seed: int
    steps: list[Step]
    recap: dict[str, str]
    setup: list[Command] = field(default_factory=list)
    seed_concepts: list[str] = field(default_factory=list)
    folder: Path | None = None


@dataclass(frozen=True)
class Track:
    id: str
    title: dict[str, str]
    lessons: list[str]


@dataclass
class Course:
    tracks: list[Track]
    lessons: dict[str, Lesson]
    errors: list[str] = field(default_factory=list)

    def ordered(self) -> list[Lesson]:
        """Every lesson in course order (tracks, then their lessons)."""
        return [self.lessons[i] for t in self.tracks for i in t.lessons if i in self.lessons]

    def next_of(self, lesson_id: str) -> str | None:
        ids = [lesson.id for lesson in self.ordered()]
        if lesson_id not in ids:
            return None
        pos = ids.index(lesson_id)
        return ids[pos + 1] if pos + 1 < len(ids) else None


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise LessonFormatError(f"{path.name}: {err}") from err


def _command(folder: Path, raw: Any) -> Command:
    if isinstance(raw, str):
        return Command(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("run"), str):
        raise LessonFormatError(f"{folder.name}: a command is a string or {{run: ...}}: {raw!r}")
    stdin = ""
    if raw.get("stdin"):
        stdin = (folder / str(raw["stdin"])).read_text(encoding="utf-8")
    return Command(raw["run"], stdin, bool(raw.get("fails", False)))


def _texts(raw: Any) -> dict[str, str]:
    return {k: str(v).strip() for k, v in raw.items()} if isinstance(raw, dict) else {}


def _step(folder: Path, raw: dict[str, Any]) -> Step:
    return Step(
        instruction=_texts(raw.get("instruction")),
        goal=dict(raw.get("goal") or {}),
        hints=[_texts(h) for h in raw.get("hints") or []],
        solution=[_command(folder, c) for c in raw.get("solution") or []],
        answer=raw.get("answer"),
        explain=_texts(raw.get("explain")),
    )


def load_lesson(folder: Path) -> Lesson:
    """The lesson in `folder`; raises LessonFormatError when a file is missing or unreadable."""
    raw = _yaml(folder / "lesson.yaml")
    if not isinstance(raw, dict):
        raise LessonFormatError(f"{folder.name}/lesson.yaml: not a mapping")
    prose = {}
    for lang in LANGS:
        path = folder / f"prose.{lang}.md"
        prose[lang] = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    return Lesson(
        id=str(raw.get("id", "")),
        title=_texts(raw.get("title")),
        summary=_texts(raw.get("summary")),
        prose=prose,
        scenario=str(raw.get("scenario", "seed")),
        mode=str(raw.get("mode", "iptables")),
        seed=int(raw.get("seed", 1)),
        steps=[_step(folder, s) for s in raw.get("steps") or []],
        recap=_texts(raw.get("recap")),
        setup=[_command(folder, c) for c in raw.get("setup") or []],
        seed_concepts=[str(c) for c in raw.get("seed_concepts") or []],
        folder=folder,
    )


def load_course(root: Path = LESSONS_DIR) -> Course:
    """Every lesson listed by `index.yaml`; a lesson that cannot be read is an error (the
    course then holds the others, so one broken file never takes the web app down)."""
    try:
        index = _yaml(root / "index.yaml") or {}
    except LessonFormatError as err:
        return Course([], {}, [f"index: {err}"])
    tracks = [
        Track(str(t["id"]), _texts(t.get("title")), [str(i) for i in t.get("lessons") or []])
        for t in index.get("tracks") or []
    ]
    course = Course(tracks, {})
    for track in tracks:
        for lesson_id in track.lessons:
            try:
                course.lessons[lesson_id] = load_lesson(root / lesson_id)
            except (LessonFormatError, OSError, ValueError, TypeError) as err:
                course.errors.append(f"{lesson_id}: {err}")
    return course
