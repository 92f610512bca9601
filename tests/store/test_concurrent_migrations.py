"""Servers on several machines starting at once against one PostgreSQL database: each migrates
at start-up, and none may fail because another is creating the same tables at that moment.

Each process gets its own TMPDIR, so the file lock that orders workers on one machine does not
order them here (as on separate machines); only the database's advisory lock can.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect
from sqlmodel import SQLModel

from app.store.db import make_engine, ping

PROCESSES = 4
# Each process imports the app, says "ready", and migrates once the go file appears: all of them
# at the same moment, however long their imports took on a loaded machine.
SCRIPT = """
import os, sys, time
from app.store.db import make_engine, migrate
engine = make_engine(sys.argv[1])
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.005)
migrate(engine)
"""


def test_servers_on_separate_machines_migrate_one_database_at_once(
    postgres_url: str, tmp_path: Path
) -> None:
    root = Path(__file__).resolve().parents[2]
    go = tmp_path / "go"
    processes = []
    for n in range(PROCESSES):
        machine = tmp_path / f"machine{n}"
        machine.mkdir()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", SCRIPT, postgres_url, str(go)],
                cwd=root,
                env={**os.environ, "TMPDIR": str(machine)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == b"ready"
        go.touch()
        outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in processes]
    finally:
        for process in processes:
            process.kill()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-2000:]
    engine = make_engine(postgres_url)
    ping(engine)
    assert set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()
