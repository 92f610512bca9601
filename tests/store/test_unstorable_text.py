"""Text with a NUL character reaching the database: PostgreSQL refuses it outright (SQLite does
not), and the app must answer that in the learner's language, not with a 500."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import Settings
from app.web.app import create_app
from app.web.i18n import translate


def test_a_nul_in_a_lab_id_is_not_a_server_error(database_url: str) -> None:
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        made = client.post("/api/labs", json={"scenario": "seed"}).json()
        auth = {"Authorization": f"Bearer {made['token']}", "Accept-Language": "zh-CN"}
        answer = client.get("/api/labs/ab%00cd", headers=auth)
        if database_url.startswith("sqlite"):
            assert answer.status_code == 404  # SQLite compares it like any character
        else:
            assert answer.status_code == 422
            assert answer.json()["detail"] == translate("zh", "error.nul_text")
        # The connection that met the refusal is usable again: the lab still opens.
        assert client.get(f"/api/labs/{made['id']}", headers=auth).status_code == 200
