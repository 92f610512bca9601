"""The interview question bank: load `lessons/quiz/*.yaml` and validate it.

A bank file holds one topic's questions, each in 简体中文 and English side by side. Question
types: `single` and `multiple` choice, `order` (items listed in the right order, shown
shuffled), `fill` (accepted answers, compared case-insensitively) and `explain` (a model
answer and a rubric the learner grades themself against, flashcard style).

`check_bank()` returns every problem as text; errors make `kube-proxy-lab quiz check` fail,
warnings (lesson links that no lesson defines yet, while the course has no index) do not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LANGS = ("zh", "en")
TYPES = ("single", "multiple", "order", "fill", "explain")
TOPICS = (
    "service",
    "tables-chains",
    "iptables-commands",
    "modes",
    "ipvs",
    "conntrack-nat",
    "service-types",
    "troubleshooting",
    "nftables",
)
REPO = Path(__file__).resolve().parents[3]
BANK_DIR = REPO / "lessons" / "quiz"
LESSONS_DIR = REPO / "lessons"

Text = dict[str, str]


@dataclass(frozen=True)
class Question:
    """One bank question; the text fields are {"zh": ..., "en": ...}."""

    id: str
    topic: str
    type: str
    prompt: Text
    explain: Text
    lesson: str
    choices: tuple[Text, ...] = ()
    correct: frozenset[int] = frozenset()  # indexes into choices
    items: tuple[Text, ...] = ()  # `order`: the right order
    answers: tuple[str, ...] = ()  # `fill`
    model: Text = field(default_factory=dict)  # `explain`
    rubric: tuple[Text, ...] = ()  # `explain`
    version: Text = field(default_factory=dict)  # a version-dependent fact says so


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _text(raw: Any, where: str, report: Report, *, required: bool = True) -> Text:
    if raw is None and not required:
        return {}
    if not isinstance(raw, dict):
        report.errors.append(f"{where}: needs a mapping with zh and en")
        return {lang: "" for lang in LANGS}
    for lang in LANGS:
        value = raw.get(lang)
        if not isinstance(value, str) or not value.strip():
            report.errors.append(f"{where}: missing {lang} text")
    extra = set(raw) - set(LANGS) - {"correct"}
    if extra:
        report.errors.append(f"{where}: unknown keys {sorted(extra)}")
    return {lang: str(raw.get(lang, "")) for lang in LANGS}


def _choices(raw: dict[str, Any], where: str, report: Report) -> tuple[tuple[Text, ...], set[int]]:
    choices = raw.get("choices")
    if not isinstance(choices, list) or len(choices) < 2:
        report.errors.append(f"{where}: needs at least two choices")
        return (), set()
    texts = tuple(_text(c, f"{where} choice {i + 1}", report) for i, c in enumerate(choices))
    correct = {i for i, c in enumerate(choices) if isinstance(c, dict) and c.get("correct")}
    for lang in LANGS:
        seen = Counter(t[lang] for t in texts)
        if any(n > 1 for n in seen.values()):
            report.errors.append(f"{where}: two choices read the same in {lang}")
    return texts, correct


def _typed(raw: dict[str, Any], kind: str, where: str, report: Report) -> dict[str, Any]:
    """The fields a question of `kind` needs, checked."""
    out: dict[str, Any] = {}
    if kind in ("single", "multiple"):
        choices, correct = _choices(raw, where, report)
        if kind == "single" and len(correct) != 1:
            report.errors.append(f"{where}: single choice needs exactly one right answer")
        if kind == "multiple" and not correct:
            report.errors.append(f"{where}: multiple choice needs at least one right answer")
        out |= {"choices": choices, "correct": frozenset(correct)}
    elif kind == "order":
        items = raw.get("items")
        if not isinstance(items, list) or len(items) < 3:
            report.errors.append(f"{where}: an ordering needs at least three items")
            items = []
        out["items"] = tuple(_text(t, f"{where} item {i + 1}", report) for i, t in enumerate(items))
    elif kind == "fill":
        answers = raw.get("answers")
        if not isinstance(answers, list) or not all(isinstance(a, str) and a for a in answers):
            report.errors.append(f"{where}: a fill-in needs a list of accepted answers")
            answers = []
        out["answers"] = tuple(answers)
    elif kind == "explain":
        out["model"] = _text(raw.get("model"), f"{where} model", report)
        rubric = raw.get("rubric")
        if not isinstance(rubric, list) or not rubric:
            report.errors.append(f"{where}: an explain question needs a rubric")
            rubric = []
        out["rubric"] = tuple(_text(r, f"{where} rubric", report) for r in rubric)
    return out


KNOWN = {"id", "type", "prompt", "explain", "lesson", "choices", "items", "answers", "model"}
KNOWN |= {"rubric", "version"}


def _question(raw: Any, topic: str, where: str, report: Report) -> Question | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        report.errors.append(f"{where}: a question needs an id")
        return None
    where = f"{where} {raw['id']}"
    kind = raw.get("type")
    if kind not in TYPES:
        report.errors.append(f"{where}: type must be one of {', '.join(TYPES)}")
        return None
    if set(raw) - KNOWN:
        report.errors.append(f"{where}: unknown keys {sorted(set(raw) - KNOWN)}")
    lesson = raw.get("lesson")
    if not isinstance(lesson, str) or not lesson:
        report.errors.append(f"{where}: needs a lesson id")
    return Question(
        id=raw["id"],
        topic=topic,
        type=kind,
        prompt=_text(raw.get("prompt"), f"{where} prompt", report),
        explain=_text(raw.get("explain"), f"{where} explain", report),
        lesson=str(lesson or ""),
        version=_text(raw.get("version"), f"{where} version", report, required=False),
        **_typed(raw, kind, where, report),
    )


def _load_file(path: Path, report: Report) -> list[Question]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        report.errors.append(f"{path.name}: cannot read: {error}")
        return []
    if not isinstance(data, dict) or data.get("topic") not in TOPICS:
        report.errors.append(f"{path.name}: needs `topic:` one of {', '.join(TOPICS)}")
        return []
    raws = data.get("questions")
    if not isinstance(raws, list):
        report.errors.append(f"{path.name}: needs a `questions:` list")
        return []
    found = (_question(r, data["topic"], path.name, report) for r in raws)
    return [q for q in found if q is not None]


def load_bank(directory: Path = BANK_DIR, report: Report | None = None) -> list[Question]:
    """Every question of every `*.yaml` under `directory`, in file then list order."""
    report = report if report is not None else Report()
    questions: list[Question] = []
    for path in sorted(directory.glob("*.yaml")):
        questions += _load_file(path, report)
    ids = Counter(q.id for q in questions)
    report.errors += [f"question id {i!r} is used {n} times" for i, n in ids.items() if n > 1]
    return questions


def lesson_ids(lessons_dir: Path = LESSONS_DIR) -> tuple[set[str], bool]:
    """The lesson ids that exist, and whether the course is complete, so that every link
    must resolve: `index.yaml` exists and none of its tracks is still empty. A lesson is a
    folder holding a lesson file, or an id the index lists."""
    ids = {p.parent.name for p in lessons_dir.glob("*/lesson.*")}
    ids |= {p.parent.name for p in lessons_dir.glob("*/*/lesson.*")}
    index = lessons_dir / "index.yaml"
    if not index.exists():
        return ids, False
    try:
        data = yaml.safe_load(index.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ids, True
    tracks = data.get("tracks") if isinstance(data, dict) else None
    filling = isinstance(tracks, list) and any(
        isinstance(t, dict) and not t.get("lessons") for t in tracks
    )
    return ids | _index_ids(data), not filling


def _index_ids(data: Any) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "lessons" and isinstance(value, list):
                    found.update(v for v in value if isinstance(v, str))
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    return found


def check_bank(
    directory: Path = BANK_DIR, lessons_dir: Path = LESSONS_DIR
) -> tuple[list[Question], Report]:
    """Load and validate the bank, and resolve its lesson links."""
    report = Report()
    questions = load_bank(directory, report)
    known, indexed = lesson_ids(lessons_dir)
    missing = sorted({q.lesson for q in questions if q.lesson and q.lesson not in known})
    for lesson in missing:
        users = ", ".join(q.id for q in questions if q.lesson == lesson)
        message = f"lesson {lesson!r} does not exist (linked from {users})"
        (report.errors if indexed else report.warnings).append(message)
    return questions, report
