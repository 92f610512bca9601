"""Benchmark: a room of 200 students answering one question, against a real uvicorn with two
workers on 127.0.0.1 sharing one SQLite file (the session lives in the database only).

Figures:
  classroom_200_answers_s            wall time for 200 students (32 at a time, each with its
                                     own cookie jar) to post their answer
  classroom_answer_to_chart_p95_ms   95th percentile, over the 200 answers, of the time from a
                                     student sending an answer to the teacher's live panel
                                     (the fragment the projected chart is drawn from) counting
                                     it; the teacher polls back to back here, so the browser's
                                     2 s polling interval is not included

Bounded: 200 students, 32 threads, every request with a 30 s timeout, the server stopped at
the end whatever happens.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from live_server import live_server

from app.sim.classroom import build_item

STUDENTS = 200
THREADS = 32
TIMEOUT = 30.0
TO = "svc/my-first-deploy:8080"
COUNT = re.compile(r"data-live-count>(\d+) ")


def _join(base: str, code: str, n: int) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=TIMEOUT)
    reply = client.post("/classroom/join", data={"code": code, "nickname": f"student {n}"})
    _ok(reply)
    # Joining starts the student's session; its answers carry that session's CSRF token.
    client.headers["X-CSRF-Token"] = reply.headers["X-CSRF-Token"]
    return client


def _ok(reply: httpx.Response) -> None:
    # httpx counts a redirect as an error; the classroom answers forms with 303 See Other.
    if reply.status_code >= 400:
        reply.raise_for_status()


class _Poller(threading.Thread):
    """The teacher's live panel, fetched back to back: (start, end, answers counted)."""

    def __init__(self, base: str, code: str, token: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=base, timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"}
        )
        self.url = f"/classroom/{code}/teach/live"
        self.polls: list[tuple[float, float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.perf_counter()
            found = COUNT.search(self.client.get(self.url).text)
            self.polls.append((start, time.perf_counter(), int(found.group(1)) if found else -1))


def _round(base: str) -> tuple[float, float]:
    teacher = httpx.Client(base_url=base, timeout=TIMEOUT)
    started = teacher.post("/classroom/start", follow_redirects=False)
    code, token = started.headers["location"].split("/")[2], started.headers["x-teacher-token"]
    auth = {"Authorization": f"Bearer {token}"}
    question = {"kind": "question", "seed": "1", "source": "external", "to": TO}
    _ok(teacher.post(f"/classroom/{code}/push", data=question, headers=auth))
    options = [
        o["value"] for o in build_item("question", "seed", "iptables", 1, "external", TO)["options"]
    ]
    with ThreadPoolExecutor(THREADS) as pool:
        students = list(pool.map(lambda n: _join(base, code, n), range(STUDENTS)))
    poller = _Poller(base, code, token)
    poller.start()

    def answer(n: int) -> tuple[float, float]:
        sent = time.perf_counter()
        students[n].post(
            f"/classroom/{code}/answer", data={"choice": options[n % len(options)]}
        ).raise_for_status()
        return sent, time.perf_counter()

    begin = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        times = list(pool.map(answer, range(STUDENTS)))
    elapsed = time.perf_counter() - begin
    deadline = time.monotonic() + TIMEOUT
    while (not poller.polls or poller.polls[-1][2] < STUDENTS) and time.monotonic() < deadline:
        time.sleep(0.05)
    poller.stop.set()
    poller.join(TIMEOUT)
    for client in students:
        client.close()
    return elapsed, _p95_latency(times, poller.polls)


def _p95_latency(times: list[tuple[float, float]], polls: list[tuple[float, float, int]]) -> float:
    # A poll that started after the answer was committed (its POST returned) counts it.
    latencies = []
    for sent, done in times:
        seen = next((end for start, end, _ in polls if start >= done), None)
        if seen is None:
            raise RuntimeError("the teacher's panel never counted an answer")
        latencies.append((seen - sent) * 1000)
    latencies.sort()
    return latencies[int(0.95 * (len(latencies) - 1))]


def run() -> list[tuple[str, float, str]]:
    with live_server(workers=2) as base:
        elapsed, p95 = _round(base)
    return [
        ("classroom_200_answers_s", round(elapsed, 3), "s"),
        ("classroom_answer_to_chart_p95_ms", round(p95, 1), "ms"),
    ]


if __name__ == "__main__":
    for name, value, unit in run():
        print(f"{name}: {value} {unit}")
