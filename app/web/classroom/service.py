"""Classroom sessions in the database: start, join, push an item, answer, lock, reveal, end.

Roles are capabilities. The teacher holds a random token (an HttpOnly cookie scoped to the
session's path, or `Authorization: Bearer`); a student holds a cookie minted at join. The
database keeps only their SHA-256. A session expires 12 hours after its last activity.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from app.sim.classroom import CODE_ALPHABET, CODE_LENGTH, normalise_code
from app.store.classroom import Classroom, ClassroomAnswer, ClassroomItem, ClassroomStudent
from app.web.labs.identity import digest, new_id, new_secret

EXPIRY = timedelta(hours=12)
ACTIVITY_STEP = timedelta(minutes=5)
NICKNAME_MAX = 40
MAX_STUDENTS = 500
RETRIES = 5
T = TypeVar("T")


class ClassroomError(Exception):
    """A refusal the user reads: `key` names the catalog string, `status` the HTTP status."""

    def __init__(self, key: str, status: int = 400) -> None:
        super().__init__(key)
        self.key, self.status = key, status


def now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def start(engine: Engine) -> tuple[Classroom, str]:
    """A new session and the teacher's token (shown once, kept as a cookie)."""
    token = new_secret()
    for _ in range(10):  # 25**6 codes: a clash is rare, and retried
        room = Classroom(id=new_id(), code=new_code(), teacher=digest(token))
        try:
            with Session(engine, expire_on_commit=False) as session:
                session.add(room)
                session.commit()
            return room, token
        except IntegrityError:
            continue
    raise ClassroomError("classroom.error.busy", 503)


def find(session: Session, code: str, *, at: datetime | None = None) -> Classroom:
    """The live session with this code; ClassroomError 404 when unknown, ended or expired."""
    normal = normalise_code(code)
    room = (
        session.exec(select(Classroom).where(Classroom.code == normal)).first() if normal else None
    )
    if room is None or room.ended or _aware(room.active) + EXPIRY < (at or now()):
        raise ClassroomError("classroom.error.no_session", 404)
    return room


def is_teacher(room: Classroom, token: str | None) -> bool:
    return bool(token) and secrets.compare_digest(digest(token or ""), room.teacher)


def student(session: Session, room: Classroom, token: str | None) -> ClassroomStudent | None:
    if not token or len(token) > 128:
        return None
    found = session.exec(select(ClassroomStudent).where(ClassroomStudent.token == digest(token)))
    pupil = found.first()
    return pupil if pupil is not None and pupil.classroom_id == room.id else None


def clean_nickname(text: str) -> str:
    """The nickname as shown: inner whitespace collapsed, control characters refused."""
    name = " ".join(text.split())
    if not name or len(name) > NICKNAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ClassroomError("classroom.error.nickname")
    return name


def join(engine: Engine, code: str, nickname: str) -> tuple[Classroom, str]:
    """Add a student; returns the session and the student's secret (their cookie)."""
    name = clean_nickname(nickname)
    secret = new_secret()

    def write(session: Session) -> Classroom:
        room = find(session, code)
        count = session.exec(
            select(func.count()).where(ClassroomStudent.classroom_id == room.id)
        ).one()
        if count >= MAX_STUDENTS:
            raise ClassroomError("classroom.error.full", 403)
        session.add(
            ClassroomStudent(id=new_id(), classroom_id=room.id, nickname=name, token=digest(secret))
        )
        _keep_alive(session, room)
        session.commit()
        return room

    with Session(engine, expire_on_commit=False) as session:
        return retry_locked(session, write), secret


def retry_locked(session: Session, write: Callable[[Session], T]) -> T:
    """Run `write` and commit, again after a short pause if SQLite says "database is locked".

    Several workers write the same file; a writer waits up to busy_timeout for the lock
    (app/store/db.py), but a burst of a whole room answering at once can outlast it on a
    loaded machine. The write is idempotent per student, so running it again is safe.

    A double click sends one student's answer twice at the same instant: both requests find no
    row and both insert, and the unique constraint refuses the second. Running it again finds
    the first one's row and updates it, which is what the student meant."""
    for attempt in range(RETRIES):
        try:
            return write(session)
        except IntegrityError:
            session.rollback()
            if attempt == RETRIES - 1:
                raise
        except OperationalError as error:
            session.rollback()
            if "locked" not in str(error) or attempt == RETRIES - 1:
                raise
            time.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
    raise AssertionError("unreachable")


def _keep_alive(session: Session, room: Classroom) -> None:
    # Touching the shared row on every join or answer would serialise a room of 200 on it:
    # once every few minutes is enough to keep the session from expiring.
    moment = now()
    if _aware(room.active) + ACTIVITY_STEP < moment:
        room.active = moment
        session.add(room)


def current(session: Session, room: Classroom) -> ClassroomItem | None:
    if room.number == 0:
        return None
    query = select(ClassroomItem).where(
        ClassroomItem.classroom_id == room.id, ClassroomItem.number == room.number
    )
    return session.exec(query).first()


def push(session: Session, room: Classroom, data: dict[str, Any]) -> None:
    """Make `data` (app.sim.classroom.build_item) the room's next item."""
    room.number += 1
    session.add(ClassroomItem(classroom_id=room.id, number=room.number, data=data))
    _touch(session, room)


def _touch(session: Session, room: Classroom) -> None:
    room.version += 1
    room.active = now()
    session.add(room)
    session.commit()


def set_flag(session: Session, room: Classroom, flag: str) -> None:
    """Lock answers, reveal the right one (which locks too), or end the session."""
    if flag == "end":
        room.ended = True
        _touch(session, room)
        return
    item = current(session, room)
    if item is None or item.data.get("kind") != "question":
        raise ClassroomError("classroom.error.no_question", 409)
    item.locked = True
    item.revealed = item.revealed or flag == "reveal"
    session.add(item)
    _touch(session, room)


def answer(session: Session, room: Classroom, pupil: ClassroomStudent, choice: str) -> None:
    """Record (or change) the student's answer to the current question."""
    item = current(session, room)
    if item is None or item.data.get("kind") != "question":
        raise ClassroomError("classroom.error.no_question", 409)
    if item.locked:
        raise ClassroomError("classroom.error.locked", 409)
    if choice not in {o["value"] for o in item.data["options"]}:
        raise ClassroomError("classroom.error.choice")
    query = select(ClassroomAnswer).where(
        ClassroomAnswer.classroom_id == room.id,
        ClassroomAnswer.number == room.number,
        ClassroomAnswer.student_id == pupil.id,
    )
    row = session.exec(query).first() or ClassroomAnswer(
        classroom_id=room.id, number=room.number, student_id=pupil.id, choice=choice
    )
    row.choice, row.at = choice, now()
    session.add(row)
    _keep_alive(session, room)
    session.commit()


def own_answer(session: Session, room: Classroom, pupil: ClassroomStudent) -> str | None:
    query = select(ClassroomAnswer.choice).where(
        ClassroomAnswer.classroom_id == room.id,
        ClassroomAnswer.number == room.number,
        ClassroomAnswer.student_id == pupil.id,
    )
    return session.exec(query).first()


def tally(session: Session, room: Classroom, number: int) -> Counter[str]:
    query = select(ClassroomAnswer.choice, func.count()).where(
        ClassroomAnswer.classroom_id == room.id, ClassroomAnswer.number == number
    )
    return Counter(dict(session.exec(query.group_by(ClassroomAnswer.choice)).all()))


def student_count(session: Session, room: Classroom) -> int:
    query = select(func.count()).where(ClassroomStudent.classroom_id == room.id)
    return int(session.exec(query).one())


@dataclass(frozen=True)
class ResultRow:
    number: int
    nickname: str
    choice: str
    correct: str
    at: str


def results(session: Session, room: Classroom) -> list[ResultRow]:
    """Every answer of the session, by question then nickname (the CSV download)."""
    items = {
        i.number: i
        for i in session.exec(select(ClassroomItem).where(ClassroomItem.classroom_id == room.id))
    }
    names = {
        s.id: s.nickname
        for s in session.exec(
            select(ClassroomStudent).where(ClassroomStudent.classroom_id == room.id)
        )
    }
    rows = []
    answers = session.exec(select(ClassroomAnswer).where(ClassroomAnswer.classroom_id == room.id))
    for a in answers:
        item = items.get(a.number)
        right = item.data.get("answer", "") if item is not None and item.revealed else ""
        verdict = "" if not right else ("yes" if a.choice == right else "no")
        rows.append(
            ResultRow(a.number, names.get(a.student_id, ""), a.choice, verdict, a.at.isoformat())
        )
    return sorted(rows, key=lambda r: (r.number, r.nickname.casefold()))


def students(session: Session, room: Classroom) -> list[ClassroomStudent]:
    query = select(ClassroomStudent).where(ClassroomStudent.classroom_id == room.id)
    return list(session.exec(query.order_by(ClassroomStudent.joined)))
