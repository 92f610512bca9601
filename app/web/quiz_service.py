"""Interview practice in the database: start a sitting, grade it once, move the Leitner
boxes, and read a learner's history for the progress chart. The learner is the digest of
the `kpl_session` cookie (app/web/labs/identity.py)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.curriculum.quiz import practice
from app.curriculum.quiz.grading import due_in_days, next_box
from app.store.quiz import QuizAnswer, QuizBox, QuizRun

#: Seconds per question in a timed mock interview.
SECONDS_PER_QUESTION = 90
KINDS = ("mock", "drill", "review")


def _now() -> datetime:
    return datetime.now(UTC)


def _naive(moment: datetime) -> datetime:
    # SQLite hands datetimes back without a zone; compare in UTC without one.
    return moment.replace(tzinfo=None) if moment.tzinfo else moment


def due_refs(engine: Engine, learner: str, limit: int = practice.MAX_QUESTIONS) -> list[str]:
    """Missed questions whose box is due now, the lowest boxes first."""
    with Session(engine) as session:
        rows = session.exec(
            select(QuizBox)
            .where(QuizBox.learner == learner, QuizBox.due <= _now(), QuizBox.box < 5)
            .order_by(QuizBox.box, QuizBox.due)
            .limit(limit)
        ).all()
    return [row.question for row in rows]


def start(engine: Engine, learner: str, kind: str, count: int, topic: str | None) -> str | None:
    """A new sitting; its id, or None when a review finds nothing due."""
    seed = secrets.randbits(32)
    if kind == "review":
        refs = due_refs(engine, learner, count)
    else:
        refs = practice.pick(seed, count, topic)
    if not refs:
        return None
    seconds = SECONDS_PER_QUESTION * len(refs) if kind == "mock" else 0
    run_id = secrets.token_hex(8)
    run = QuizRun(
        id=run_id,
        learner=learner,
        kind=kind,
        topic=topic,
        seconds=seconds,
        questions=refs,
    )
    with Session(engine) as session:
        session.add(run)
        session.commit()
    return run_id


def load(engine: Engine, learner: str | None, run_id: str) -> QuizRun | None:
    """The learner's own sitting (another learner's is as good as absent)."""
    with Session(engine) as session:
        run = session.get(QuizRun, run_id[:32])
    return run if run is not None and learner and run.learner == learner else None


def finish(engine: Engine, run: QuizRun, form: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """Grade the form once (a second submission shows the first result), save each answer
    and move each question's Leitner box."""
    if run.result is not None:
        return run.result
    items = []
    for index, ref in enumerate(run.questions):
        shown = practice.show(ref, lang, run.id)
        if shown is None:
            continue
        answer = practice.answer_from_form(shown, form, index)
        verdict = practice.grade_ref(ref, answer, lang)
        given = practice.describe(shown, answer)
        items.append({"ref": ref, "topic": shown.topic, "correct": verdict.correct, "given": given})
    elapsed = int((_naive(_now()) - _naive(run.started)).total_seconds())
    result = {
        "score": sum(i["correct"] for i in items),
        "total": len(items),
        "elapsed": elapsed,
        "over_time": bool(run.seconds) and elapsed > run.seconds,
        "items": items,
    }
    _save(engine, run, result)
    return result


def _save(engine: Engine, run: QuizRun, result: dict[str, Any]) -> None:
    with Session(engine) as session:
        stored = session.get(QuizRun, run.id)
        if stored is None or stored.result is not None:
            return
        stored.result, stored.finished = result, _now()
        session.add(stored)
        for item in result["items"]:
            session.add(
                QuizAnswer(
                    learner=run.learner,
                    run_id=run.id,
                    question=item["ref"],
                    topic=item["topic"],
                    correct=item["correct"],
                )
            )
            _move_box(session, run.learner, item)
        session.commit()
    run.result = result


def _move_box(session: Session, learner: str, item: dict[str, Any]) -> None:
    """Leitner: a miss enters (or returns to) box 1, due at once; a right answer moves a
    known question up one box. Right first time questions need no box."""
    row = session.exec(
        select(QuizBox).where(QuizBox.learner == learner, QuizBox.question == item["ref"])
    ).first()
    if row is None and item["correct"]:
        return
    if row is None:
        row = QuizBox(learner=learner, question=item["ref"], topic=item["topic"])
    row.box = next_box(row.box, item["correct"]) if row.id else 1
    row.due = _now() + timedelta(days=due_in_days(row.box)) if item["correct"] else _now()
    session.add(row)


def history(engine: Engine, learner: str | None) -> list[QuizAnswer]:
    if not learner:
        return []
    with Session(engine) as session:
        return list(
            session.exec(
                select(QuizAnswer)
                .where(QuizAnswer.learner == learner)
                .order_by(QuizAnswer.answered, QuizAnswer.id)
            ).all()
        )


def boxes(engine: Engine, learner: str | None) -> dict[int, int]:
    """How many questions sit in each Leitner box."""
    counts = dict.fromkeys(range(1, 6), 0)
    if not learner:
        return counts
    with Session(engine) as session:
        for row in session.exec(select(QuizBox).where(QuizBox.learner == learner)).all():
            counts[row.box] = counts.get(row.box, 0) + 1
    return counts
