"""An edit the server acknowledged survives the server being killed with SIGKILL.

A real `kube-proxy-lab serve` (two workers) takes a burst of edits from several threads: labs
are created, rules appended with `iptables -A`, deployments scaled, packets sent. Every edit
that got a success answer is recorded with the lab version it produced. After a seeded, random
short delay the whole process group gets SIGKILL in the middle of the burst; a new server on
the same database must then show every acknowledged edit: the lab's version at least the
acknowledged one (and at most one unacknowledged edit further: the one in flight), each
appended rule in `iptables -S`, each command in `history`.

This is about process death, not power loss. On SQLite in WAL mode a commit is in the OS's page
cache once `COMMIT` returns, so a killed process cannot lose it even with synchronous=NORMAL;
only a power cut or kernel crash can. app/store/db.py sets synchronous=FULL (the WAL is fsynced
at every commit, about 0.25 ms here) so an acknowledged edit survives those too. On PostgreSQL
the test kills the app, not the database, so it checks that the app answers success only after
its commit; the test cluster's fsync=off would matter only if PostgreSQL itself died.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from live_server import Server, start

from app.store.db import make_engine

SEED = 20261126
THREADS = 4
WORKERS = 2
# The per-lab budget is 120 actions a minute; a lab takes this many edits, then the thread
# opens another, leaving room for the two checks after the restart.
EDITS_PER_LAB = 90
# The kill comes once the burst is under way (this many edits acknowledged, however loaded the
# machine is), then after a short delay drawn from the seeded generator: the same seed gives
# the same delay, and which request it cuts off is up to timing.
KILL_AFTER_EDITS = 4 * THREADS
KILL_DELAY = (0.0, 0.6)  # seconds
BURST_SECONDS = 20.0  # the most the burst may take to reach KILL_AFTER_EDITS
TIMEOUT = 10.0
HISTORY_LINE = re.compile(r"^\s*\d+  ")  # `history` numbers each line like bash: "   12  cmd"
PACKET = {"from": "external", "to": "svc/my-first-deploy:8080", "proto": "tcp", "count": 1}


@dataclass
class LabRecord:
    """What the server acknowledged for one lab: its version and what each edit left behind."""

    id: str
    token: str
    version: int
    edits: int = 0
    rules: list[str] = field(default_factory=list)  # `iptables -S` lines
    commands: list[str] = field(default_factory=list)  # console lines, in order

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Burst(threading.Thread):
    """One learner-like client editing its own labs back to back until the server dies."""

    def __init__(self, base: str, index: int, acked: threading.Semaphore) -> None:
        super().__init__(daemon=True)
        self.base, self.index, self.acked = base, index, acked
        self.rng = random.Random(SEED + index)
        self.labs: list[LabRecord] = []
        self.refused: list[str] = []  # answers that were neither success nor a dropped line
        self.replicas = 1

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=TIMEOUT) as client:
            try:
                while self._lab(client):
                    pass
            except httpx.TransportError:
                return  # the server died mid-request: that edit is unacknowledged

    def _lab(self, client: httpx.Client) -> bool:
        made = client.post("/api/labs", json={"scenario": "seed", "mode": "iptables"})
        if made.status_code != 201:
            self.refused.append(f"create: {made.status_code} {made.text[:200]}")
            return False
        lab_id, token = made.json()["id"], made.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        read = client.get(f"/api/labs/{lab_id}", headers=auth)
        if read.status_code != 200:
            self.refused.append(f"read: {read.status_code} {read.text[:200]}")
            return False
        lab = LabRecord(lab_id, token, read.json()["version"])
        self.labs.append(lab)
        return all(self._edit(client, lab, n) for n in range(EDITS_PER_LAB))

    def _edit(self, client: httpx.Client, lab: LabRecord, n: int) -> bool:
        kind = self.rng.choice(("rule", "rule", "scale", "packet"))
        if kind == "packet":
            reply = client.post(f"/api/labs/{lab.id}/requests", json=PACKET, headers=lab.auth)
            ok = reply.status_code == 200
        else:
            if kind == "rule":
                source = f"10.{self.index}.{len(self.labs)}.{n + 1}"
                line = f"iptables -A INPUT -s {source} -j DROP"
            else:
                # Always a different count: scaling to the current one changes nothing.
                self.replicas = self.rng.choice([r for r in range(1, 6) if r != self.replicas])
                line = f"kubectl scale deployment/my-first-deploy --replicas={self.replicas}"
            reply = client.post(
                f"/api/labs/{lab.id}/commands", json={"command": line}, headers=lab.auth
            )
            ok = reply.status_code == 200 and reply.json()["ok"]
        if not ok:
            self.refused.append(f"{kind}: {reply.status_code} {reply.text[:200]}")
            return False
        # One thread per lab, so the edit this answer acknowledges saved exactly one version.
        lab.version += 1
        lab.edits += 1
        self.acked.release()
        if kind != "packet":
            lab.commands.append(line)
        if kind == "rule":
            lab.rules.append(f"-A INPUT -s {source}/32 -j DROP")
        return True


def _burst_then_kill(server: Server) -> list[Burst]:
    acked = threading.Semaphore(0)
    threads = [Burst(server.base, i, acked) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + BURST_SECONDS
    for _ in range(KILL_AFTER_EDITS):
        if not acked.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
    time.sleep(random.Random(SEED).uniform(*KILL_DELAY))
    server.kill()
    for thread in threads:
        thread.join(timeout=TIMEOUT + 5)
    return threads


def _check(client: httpx.Client, lab: LabRecord) -> list[str]:
    """What of the lab's acknowledged edits the restarted server lost (empty: none)."""
    lost = []
    read = client.get(f"/api/labs/{lab.id}", headers=lab.auth)
    if read.status_code != 200:
        return [f"lab {lab.id}: {read.status_code} {read.text[:200]}"]
    version = read.json()["version"]
    # The one edit in flight at the kill may have been committed without its answer arriving.
    if not lab.version <= version <= lab.version + 1:
        lost.append(f"lab {lab.id}: version {version}, acknowledged {lab.version}")

    def run(line: str) -> str:
        reply = client.post(
            f"/api/labs/{lab.id}/commands", json={"command": line}, headers=lab.auth
        )
        assert reply.status_code == 200, reply.text
        return str(reply.json()["output"])

    listed = set(run("iptables -S INPUT").splitlines())
    lost += [f"lab {lab.id}: rule {rule!r} missing" for rule in lab.rules if rule not in listed]
    history = [HISTORY_LINE.sub("", line) for line in run("history").splitlines()]
    # The acknowledged commands in order, possibly followed by the unacknowledged one.
    if history[: len(lab.commands)] != lab.commands:
        lost.append(f"lab {lab.id}: history {history[: len(lab.commands)]} != {lab.commands}")
    return lost


def test_acknowledged_edits_survive_sigkill(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server = start(database_url, workers=WORKERS, cli=True, log=log)
    try:
        threads = _burst_then_kill(server)
    finally:
        server.stop()
    # SIGKILL to the group reached the workers too: none is left answering on the old port.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.base}/healthz", timeout=1)
    refused = [answer for thread in threads for answer in thread.refused]
    assert not refused, f"edits refused before the kill: {refused}\n{server.log_tail()}"
    assert not any(thread.is_alive() for thread in threads), "a client outlived the server"
    labs = [lab for thread in threads for lab in thread.labs]
    acknowledged = sum(lab.edits for lab in labs)
    # A burst too short to edit anything would prove nothing.
    assert acknowledged >= KILL_AFTER_EDITS, f"only {acknowledged} edits before the kill"

    again = start(database_url, workers=1, cli=True, log=log)
    try:
        with httpx.Client(base_url=again.base, timeout=TIMEOUT) as client:
            lost = [problem for lab in labs for problem in _check(client, lab)]
    finally:
        again.stop()
    assert not lost, "\n".join(lost)


def test_sqlite_fsyncs_every_commit(tmp_path: Path) -> None:
    """What makes an acknowledged edit survive a power cut as well: the WAL synced at commit."""
    engine = make_engine(f"sqlite:///{tmp_path / 'sync.sqlite3'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        engine.dispose()
