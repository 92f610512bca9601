"""The live classroom over HTTP: roles, isolation before the reveal, escaping, expiry, CSV."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.sim.classroom import CODE_ALPHABET, build_item
from app.store.classroom import Classroom, ClassroomAnswer
from app.web.classroom import service

TO = "svc/my-first-deploy:8080"
PAYLOAD = '<script>alert("x")</script><b>'  # 40 characters at most


def start(client: TestClient) -> tuple[str, str]:
    reply = client.post("/classroom/start", follow_redirects=False)
    assert reply.status_code == 303
    code = reply.headers["location"].split("/")[2]
    return code, reply.headers["x-teacher-token"]


def join(make: Callable[[], TestClient], code: str, nickname: str) -> TestClient:
    pupil = make()
    reply = pupil.post("/classroom/join", data={"code": code, "nickname": nickname})
    assert reply.status_code == 200, reply.text
    return pupil


@pytest.fixture
def room(client: TestClient, make_client: Callable[..., TestClient]):  # type: ignore[no-untyped-def]
    code, token = start(client)
    url = str(client.app.state.settings.database_url)  # type: ignore[attr-defined]
    return client, code, token, lambda: make_client(url)


def push_question(teacher: TestClient, code: str, seed: int = 1) -> None:
    data = {
        "kind": "question",
        "scenario": "seed",
        "mode": "iptables",
        "seed": str(seed),
        "source": "external",
        "to": TO,
    }
    reply = teacher.post(f"/classroom/{code}/push", data=data, follow_redirects=False)
    assert reply.status_code == 303, reply.text


def test_join_code_is_six_unambiguous_characters(room) -> None:  # type: ignore[no-untyped-def]
    _, code, _, _ = room
    assert len(code) == 6 and all(c in CODE_ALPHABET for c in code)
    assert not set("01OILSZB258") & set(CODE_ALPHABET)


def test_teacher_page_shows_code_and_qr_and_students_cannot_open_it(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    page = teacher.get(f"/classroom/{code}/teach")
    assert page.status_code == 200 and code in page.text and "<svg" in page.text
    pupil = join(make, code, "ana")
    assert pupil.get(f"/classroom/{code}/teach").status_code == 403
    for action in ("lock", "reveal", "end"):
        assert pupil.post(f"/classroom/{code}/{action}").status_code == 403
    assert pupil.post(f"/classroom/{code}/push", data={"kind": "question"}).status_code == 403
    assert pupil.get(f"/classroom/{code}/results.csv").status_code == 403


def test_bearer_token_acts_as_the_teacher(room, make_client) -> None:  # type: ignore[no-untyped-def]
    _, code, token, make = room
    script = make()
    headers = {"Authorization": f"Bearer {token}"}
    assert script.get(f"/classroom/{code}/teach", headers=headers).status_code == 200
    assert (
        script.get(f"/classroom/{code}/teach", headers={"Authorization": "Bearer nope"}).status_code
        == 403
    )


def test_a_question_round_answers_match_the_engine(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    push_question(teacher, code, seed=3)
    expected = build_item("question", "seed", "iptables", 3, "external", TO)
    a, b = join(make, code, "ana"), join(make, code, "bo")
    right = expected["answer"]
    wrong = next(o["value"] for o in expected["options"] if o["value"] != right)
    assert a.post(f"/classroom/{code}/answer", data={"choice": right}).status_code == 200
    assert b.post(f"/classroom/{code}/answer", data={"choice": wrong}).status_code == 200
    # before the reveal a student sees only their own answer, never the right one or counts
    page = b.get(f"/classroom/{code}").text
    assert "data-answer" not in page and "data-classroom-figure" not in page
    live = teacher.get(f"/classroom/{code}/teach/live").text
    assert "2 answers from 2 students" in live
    assert teacher.post(f"/classroom/{code}/reveal").status_code == 200
    page = b.get(f"/classroom/{code}").text
    assert "data-answer" in page and right in page
    # locked by the reveal
    assert a.post(f"/classroom/{code}/answer", data={"choice": wrong}).status_code == 409
    rows = list(csv.reader(io.StringIO(teacher.get(f"/classroom/{code}/results.csv").text)))
    assert rows[0] == ["question", "nickname", "answer", "correct", "answered_at"]
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [("ana", right, "yes"), ("bo", wrong, "no")]


def test_an_answer_that_is_not_an_option_is_refused(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    push_question(teacher, code)
    pupil = join(make, code, "ana")
    reply = pupil.post(f"/classroom/{code}/answer", data={"choice": "10.0.0.1:1"})
    assert reply.status_code == 400 and "not one of the options" in reply.text


def test_unchanged_poll_is_204_and_answers_of_others_do_not_change_it(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    push_question(teacher, code)
    a, b = join(make, code, "ana"), join(make, code, "bo")
    first = a.get(f"/classroom/{code}/live")
    tag = re.search(r'data-tag="([^"]+)"', first.text).group(1)  # type: ignore[union-attr]
    assert a.get(f"/classroom/{code}/live", params={"v": tag}).status_code == 204
    b.post(f"/classroom/{code}/answer", data={"choice": "none"})
    assert a.get(f"/classroom/{code}/live", params={"v": tag}).status_code == 204
    teacher.post(f"/classroom/{code}/lock")
    changed = a.get(f"/classroom/{code}/live", params={"v": tag})
    assert changed.status_code == 200 and "data-locked" in changed.text


def test_nicknames_are_escaped_everywhere(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    push_question(teacher, code)
    pupil = join(make, code, PAYLOAD)
    pupil.post(f"/classroom/{code}/answer", data={"choice": "none"})
    for page in (
        teacher.get(f"/classroom/{code}/teach").text,
        pupil.get(f"/classroom/{code}").text,
        teacher.get(f"/classroom/{code}/teach/live").text,
    ):
        assert "<script>alert" not in page and "</script><b>" not in page
        assert "&lt;script&gt;" in page
    rows = list(csv.reader(io.StringIO(teacher.get(f"/classroom/{code}/results.csv").text)))
    assert rows[1][1] == PAYLOAD  # CSV is data, not HTML: kept as typed


def test_formula_nicknames_are_defused_in_csv(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    push_question(teacher, code)
    pupil = join(make, code, '=HYPERLINK("http://x")')
    pupil.post(f"/classroom/{code}/answer", data={"choice": "none"})
    rows = list(csv.reader(io.StringIO(teacher.get(f"/classroom/{code}/results.csv").text)))
    assert rows[1][1].startswith("'=")


@pytest.mark.parametrize("nickname", ["", "   ", "x" * 41, "a\x00b"])
def test_bad_nicknames_are_refused(room, nickname: str) -> None:  # type: ignore[no-untyped-def]
    _, code, _, make = room
    reply = make().post("/classroom/join", data={"code": code, "nickname": nickname})
    assert reply.status_code == 400 and "nickname" in reply.text


def test_unknown_code_and_typed_code_in_lower_case(room) -> None:  # type: ignore[no-untyped-def]
    _, code, _, make = room
    assert (
        make().post("/classroom/join", data={"code": "XXXXXX", "nickname": "a"}).status_code == 404
    )
    assert join(make, f" {code.lower()} ", "ana").get(f"/classroom/{code}").status_code == 200


def test_ended_session_refuses_joins_and_students_see_the_end(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    pupil = join(make, code, "ana")
    teacher.post(f"/classroom/{code}/end")
    assert "data-ended" in pupil.get(f"/classroom/{code}/live").text
    assert make().post("/classroom/join", data={"code": code, "nickname": "b"}).status_code == 404


def test_session_expires_twelve_hours_after_last_activity(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    engine = teacher.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        row = session.exec(select(Classroom).where(Classroom.code == code)).one()
        row.active = service.now() - service.EXPIRY - timedelta(minutes=1)
        session.add(row)
        session.commit()
    assert make().post("/classroom/join", data={"code": code, "nickname": "a"}).status_code == 404
    assert teacher.get(f"/classroom/{code}/teach").status_code == 404


def test_push_with_a_bad_request_says_why(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, _ = room
    data = {
        "kind": "question",
        "scenario": "seed",
        "mode": "iptables",
        "seed": "1",
        "source": "external",
        "to": "svc/my-first-deploy:80",
    }
    reply = teacher.post(f"/classroom/{code}/push", data=data)
    assert reply.status_code == 400 and "has no port" in reply.text


def test_a_pushed_packet_is_shown_read_only_with_the_player(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    data = {
        "kind": "lab",
        "scenario": "seed",
        "mode": "iptables",
        "seed": "2",
        "source": "external",
        "to": TO,
    }
    assert (
        teacher.post(f"/classroom/{code}/push", data=data, follow_redirects=False).status_code
        == 303
    )
    page = join(make, code, "ana").get(f"/classroom/{code}").text
    assert 'id="trace-data"' in page and "data-player" in page
    assert 'name="choice"' not in page and "/lab/" not in page  # nothing to edit or answer
    expected = build_item("lab", "seed", "iptables", 2, "external", TO)["endpoint"]
    assert expected in page


@pytest.mark.parametrize("mode", ["ipvs", "userspace"])
def test_questions_in_other_modes_offer_every_ready_endpoint(room, mode: str) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    data = {
        "kind": "question",
        "scenario": "multi-node",
        "mode": mode,
        "seed": "1",
        "source": "external",
        "to": "svc/web-lb:80",
    }
    assert (
        teacher.post(f"/classroom/{code}/push", data=data, follow_redirects=False).status_code
        == 303
    )
    page = join(make, code, "ana").get(f"/classroom/{code}").text
    values = re.findall(r'name="choice" value="([^"]+)"', page)
    assert values == ["10.244.1.2:80", "10.244.2.2:80", "10.244.3.2:80", "none"]


def test_answers_keep_an_idle_session_alive(room) -> None:  # type: ignore[no-untyped-def]
    teacher, code, _, make = room
    push_question(teacher, code)
    pupil = join(make, code, "ana")
    engine = teacher.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        row = session.exec(select(Classroom).where(Classroom.code == code)).one()
        row.active = service.now() - service.EXPIRY + timedelta(minutes=1)
        session.add(row)
        session.commit()
    assert pupil.post(f"/classroom/{code}/answer", data={"choice": "none"}).status_code == 200
    with Session(engine) as session:
        row = session.exec(select(Classroom).where(Classroom.code == code)).one()
        assert service.now() - service._aware(row.active) < timedelta(minutes=1)


def test_one_answer_sent_many_times_at_once_is_stored_once(room) -> None:  # type: ignore[no-untyped-def]
    """A double click sends one student's answer twice at the same instant: both requests find
    no row and both insert; the student gets their answer kept, never a 500 from the database's
    unique constraint."""
    teacher, code, _, make = room
    push_question(teacher, code, seed=5)
    options = [
        o["value"] for o in build_item("question", "seed", "iptables", 5, "external", TO)["options"]
    ]
    pupil = join(make, code, "ana")
    sends = 8
    together = threading.Barrier(sends)

    def send(i: int) -> int:
        together.wait()  # every request leaves at once
        return pupil.post(f"/classroom/{code}/answer", data={"choice": options[i % 2]}).status_code

    with ThreadPoolExecutor(sends) as pool:
        statuses = list(pool.map(send, range(sends)))
    assert statuses == [200] * sends
    with Session(teacher.app.state.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(select(ClassroomAnswer)).all()
    assert len(rows) == 1 and rows[0].choice in options[:2]
