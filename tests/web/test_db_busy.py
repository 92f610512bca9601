"""A database that stays locked past SQLite's busy timeout answers 503 with Retry-After, in the
learner's language, never a 500; and the lab is intact once the lock is gone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest


# SQLite's own lock is the subject: the PostgreSQL run of the client fixture adds nothing.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_locked_database_is_a_503_in_the_learners_language(make_client, tmp_path: Path) -> None:
    database = tmp_path / "busy.sqlite3"
    client = make_client(f"sqlite:///{database}")
    made = client.post("/api/labs", json={"scenario": "seed"})
    assert made.status_code == 201
    lab = made.json()
    auth = {"Authorization": f"Bearer {lab['token']}"}

    holder = sqlite3.connect(database, timeout=0, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the lock past busy_timeout
    try:
        answer = client.post(
            f"/api/labs/{lab['id']}/commands",
            json={"command": "kubectl scale deployment/my-first-deploy --replicas=3"},
            headers={**auth, "Accept-Language": "zh-CN"},
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert "数据库此刻繁忙" in answer.json()["detail"]

    again = client.post(
        f"/api/labs/{lab['id']}/commands",
        json={"command": "kubectl get pods"},
        headers=auth,
    )
    assert again.status_code == 200
    assert again.json()["output"].count("my-first-deploy-") == 2  # the refused scale left no trace
