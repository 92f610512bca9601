"""Stateless workers: one learner served by two real server processes on one database.

Server A is `kube-proxy-lab serve --workers 2` (as an operator starts it), server B a plain
uvicorn process; both use the same database: a PostgreSQL database, or one SQLite file. The
learner's browser holds one cookie jar (cookies do not depend on the port, RFC 6265 section 8.5)
and alternates between them: whatever one process stored, the other must see, because nothing a
learner owns may live in a process's memory. Two tabs saving the same lab version on different
processes: the second gets 409 "changed elsewhere, reload" and the first edit stays.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from live_server import Server, start

from app.sim.classroom import build_item
from app.web.i18n import translate

TO = "svc/my-first-deploy:8080"
HX = {"HX-Request": "true"}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
TIMEOUT = 20.0
TABS = 6


class Browser:
    """One learner's browser: a cookie jar, and the page's CSRF token sent with every form post
    (as htmx does from the page), read again whenever the session cookie changes."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=TIMEOUT, follow_redirects=True)
        self._token: tuple[str | None, str | None] = (None, None)

    def csrf(self, base: str) -> str | None:
        session = self.http.cookies.get("kpl_session")
        if session is None or self._token[0] != session:
            page = self.http.get(f"{base}/", headers={"accept": "text/html"})
            found = CSRF_META.search(page.text)
            self._token = (self.http.cookies.get("kpl_session"), found[1] if found else None)
        return self._token[1]

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self.http.get(url, **kwargs)  # type: ignore[arg-type]

    def post(self, url: str, **kwargs: object) -> httpx.Response:
        base = re.match(r"https?://[^/]+", url)
        assert base is not None
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        token = self.csrf(base[0])
        if token:
            headers["X-CSRF-Token"] = token
        return self.http.post(url, headers=headers, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Base URLs of servers A and B, two processes on one database."""
    if request.param == "postgresql":
        url = str(request.getfixturevalue("module_postgres_url"))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('workers') / 'shared.sqlite3'}"
    logs = tmp_path_factory.mktemp("logs")  # pytest's own temporary tree, not /tmp
    started: list[Server] = []
    try:
        started.append(start(url, workers=2, cli=True, log=logs / "a.log"))
        started.append(start(url, log=logs / "b.log"))
        yield started[0].base, started[1].base
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    learner = Browser()
    yield learner
    learner.close()


def _lab_page(browser: Browser, base: str) -> tuple[str, int]:
    page = browser.get(f"{base}/lab?lang=en")
    assert page.status_code == 200, page.text[:300]
    lab_id = re.search(r'data-lab="(\w+)"', page.text)
    version = re.search(r'id="lab-version" name="version" value="(\d+)"', page.text)
    assert lab_id and version
    return lab_id[1], int(version[1])


def test_a_lab_edited_on_one_process_is_the_same_lab_on_the_other(
    servers: tuple[str, str], browser: Browser
) -> None:
    a, b = servers
    lab_id, version = _lab_page(browser, a)
    # The session cookie made on A opens the same lab on B.
    assert _lab_page(browser, b) == (lab_id, version)

    scale = "kubectl scale deployment/my-first-deploy --replicas=3"
    ran = browser.post(f"{a}/lab/{lab_id}/run", data={"command": scale, "version": version})
    assert ran.status_code == 200, ran.text[:300]
    lab = browser.get(f"{b}/api/labs/{lab_id}").json()
    assert len(lab["pods"]) == 3 and lab["version"] > version

    packets = {"from": "external", "to": TO, "count": 6}
    sent = browser.post(f"{b}/api/labs/{lab_id}/requests", json=packets)
    assert sent.status_code == 200, sent.text[:300]
    assert sum(sent.json()["endpoints"].values()) == 6
    # The connections B tracked are in A's conntrack table; a chain made on A is listed on B.
    counted = browser.post(f"{a}/api/labs/{lab_id}/commands", json={"command": "conntrack -C"})
    assert counted.json()["output"].strip() == "6"
    made = browser.post(f"{a}/api/labs/{lab_id}/commands", json={"command": "iptables -N AUDIT"})
    assert made.json()["ok"], made.text[:300]
    listed = browser.post(f"{b}/api/labs/{lab_id}/commands", json={"command": "iptables -S"})
    assert "-N AUDIT" in listed.json()["output"].splitlines()


def test_two_tabs_on_two_processes_saving_one_version_the_second_gets_409(
    servers: tuple[str, str], browser: Browser
) -> None:
    a, b = servers
    lab_id, version = _lab_page(browser, a)
    first = {"command": "kubectl scale deployment/my-first-deploy --replicas=3", "version": version}
    second = {
        "command": "kubectl scale deployment/my-first-deploy --replicas=1",
        "version": version,
    }
    assert browser.post(f"{a}/lab/{lab_id}/run", data=first).status_code == 200
    stale = browser.post(f"{b}/lab/{lab_id}/run", data=second)
    assert stale.status_code == 409
    assert translate("en", "lab.error.conflict") in stale.text
    # The first edit is kept, whichever process is asked.
    for base in (a, b):
        assert len(browser.get(f"{base}/api/labs/{lab_id}").json()["pods"]) == 3


def test_simultaneous_saves_of_one_version_on_two_processes_let_exactly_one_win(
    servers: tuple[str, str], browser: Browser
) -> None:
    # Six tabs press a button at the same moment, all holding the same version, half of them
    # on each process: the database's conditional UPDATE lets one save and refuses the rest.
    a, b = servers
    lab_id, version = _lab_page(browser, a)
    browser.csrf(a)  # fetched once, before the race, not by six threads at once
    barrier = threading.Barrier(TABS)

    def press(tab: int) -> int:
        base = (a, b)[tab % 2]
        command = f"kubectl scale deployment/my-first-deploy --replicas={tab + 1}"
        barrier.wait(timeout=TIMEOUT)
        answer = browser.post(
            f"{base}/lab/{lab_id}/run", data={"command": command, "version": version}
        )
        return answer.status_code

    with ThreadPoolExecutor(TABS) as pool:
        statuses = sorted(pool.map(press, range(TABS)))
    assert statuses == [200] + [409] * (TABS - 1)
    lab = browser.get(f"{b}/api/labs/{lab_id}").json()
    assert lab["version"] == version + 1


def test_lesson_progress_and_quiz_answers_follow_the_learner_across_processes(
    servers: tuple[str, str], browser: Browser
) -> None:
    a, b = servers
    assert "Step 1 of 3" in browser.get(f"{a}/lessons/service-endpoints?lang=en").text
    right = {"command": "kubectl get endpoints my-first-deploy"}
    done = browser.post(f"{a}/lessons/service-endpoints/run", data=right, headers=HX)
    assert "Step 2 of 3" in done.text
    assert "Step 2 of 3" in browser.get(f"{b}/lessons/service-endpoints?lang=en").text
    assert "step 2 of 3" in browser.get(f"{b}/lessons?lang=en").text

    started = browser.post(
        f"{b}/quiz/start",
        data={"kind": "drill", "count": "5", "topic": "service"},
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text[:300]
    sitting = started.headers["location"]
    assert browser.get(f"{a}{sitting}").status_code == 200  # B's sitting opens on A
    graded = browser.post(f"{a}{sitting}", data={})
    assert re.search(r'data-score="0" data-total="5"', graded.text)
    chart = browser.get(f"{b}/quiz?lang=en").text
    assert re.search(r"Service &amp; endpoints</th><td>5</td><td>0</td><td>0%</td>", chart)


def test_a_classroom_started_on_one_process_is_answered_on_the_other(
    servers: tuple[str, str],
) -> None:
    a, b = servers
    teacher, pupil = Browser(), Browser()
    try:
        opened = teacher.post(f"{a}/classroom/start", follow_redirects=False)
        assert opened.status_code == 303, opened.text[:300]
        code = opened.headers["location"].split("/")[2]
        push = {"kind": "question", "scenario": "seed", "mode": "iptables", "seed": "3",
                "source": "external", "to": TO}  # fmt: skip
        assert teacher.post(f"{b}/classroom/{code}/push", data=push).status_code == 200

        joined = pupil.post(f"{b}/classroom/join", data={"code": code, "nickname": "ana"})
        assert joined.status_code == 200, joined.text[:300]
        right = build_item("question", "seed", "iptables", 3, "external", TO)["answer"]
        answered = pupil.post(f"{a}/classroom/{code}/answer", data={"choice": right})
        assert answered.status_code == 200, answered.text[:300]

        assert "1 answers from 1 students" in teacher.get(f"{b}/classroom/{code}/teach/live").text
        assert teacher.post(f"{a}/classroom/{code}/reveal").status_code == 200
        assert "data-answer" in pupil.get(f"{b}/classroom/{code}").text
    finally:
        teacher.close()
        pupil.close()


def test_both_processes_migrated_one_database_and_are_ready(servers: tuple[str, str]) -> None:
    # Both ran the migrations at start-up on the same database (under the migration lock, or
    # finding them done); neither is left unready by the other.
    for base in servers:
        assert httpx.get(f"{base}/readyz", timeout=TIMEOUT).status_code == 200
