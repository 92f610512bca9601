"""Every operation of the app's OpenAPI schema, fuzzed through the ASGI app with schemathesis:
no answer is a 5xx, and every answer is one the schema documents (status code, content type,
headers, body shape).

Path parameters name real objects so the fuzz reaches the handlers rather than 404s: a lab
created through the API (opened with its bearer token, so no session cookie and no CSRF token
is involved) and a classroom started by a teacher (their bearer token). A second pass keeps the
generated ids, for the "not yours / no such thing" answers. A state machine follows the
schema's links: create a lab, then read it, run commands and send requests with its id.

Examples are bounded and derandomized so CI is repeatable and quick; `KPL_FUZZ_EXAMPLES=500`
runs longer locally, and `KPL_FUZZ_RANDOM=1` draws new examples.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.web.app import create_app
from app.web.routers.classroom import STUDENT_COOKIE

EXAMPLES = int(os.environ.get("KPL_FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    # the same examples on every run (CI); KPL_FUZZ_RANDOM=1 explores new ones locally
    derandomize=not os.environ.get("KPL_FUZZ_RANDOM"),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class Keys:
    """The real objects the fuzz points at, and what opens each: a lab and its bearer token, a
    classroom with a question pushed, its teacher's bearer token and a joined student's cookie."""

    def __init__(self, app: Any) -> None:
        self.client = schemathesis.python.asgi.get_client(app)
        created = self.post("/api/labs", json={})
        assert created.status_code == 201, created.text
        self.lab_id, self.lab_token = created.json()["id"], created.json()["token"]
        self.new_room()

    def post(self, path: str, **kwargs: Any) -> Any:
        """A POST that carries no cookie from an earlier answer: a first visit, or a script
        with a bearer token (neither needs a CSRF token)."""
        self.client.cookies.clear()
        return self.client.post(path, allow_redirects=False, **kwargs)

    def new_room(self) -> None:
        started = self.post("/classroom/start")
        assert started.status_code == 303, started.text
        self.teacher_token = started.headers["X-Teacher-Token"]
        self.code = started.headers["location"].split("/")[2]
        bearer = {"Authorization": f"Bearer {self.teacher_token}"}
        pushed = self.post(f"/classroom/{self.code}/push", headers=bearer)
        assert pushed.status_code == 303, pushed.text
        joined = self.post("/classroom/join", data={"code": self.code, "nickname": "fuzz"})
        assert joined.status_code == 303, joined.text
        self.student_cookie = joined.cookies[STUDENT_COOKIE]

    def substitute(self, case: schemathesis.Case) -> None:
        params = case.path_parameters or {}
        if "lab_id" in params:
            params["lab_id"] = self.lab_id
        if "code" in params:
            params["code"] = self.code

    def call(self, case: schemathesis.Case) -> Any:
        """Send the case as its caller would: a lab's or teacher's bearer token, and on the
        students' pages the student's cookie."""
        teacher = case.path.startswith("/classroom")
        token = self.teacher_token if teacher else self.lab_token
        response = case.call(
            headers={"Authorization": f"Bearer {token}"},
            cookies={STUDENT_COOKIE: self.student_cookie} if teacher else None,
            allow_redirects=False,
        )
        if case.path.endswith("/end") and response.status_code == 303:
            self.new_room()  # the session is over: later cases get a live one
        return response


# Loaded at import (schemathesis' `from_fixture` does not run on pytest 9.2): the schema does
# not depend on the database, which is created on the first request in a temporary directory.
_DB_DIR = tempfile.TemporaryDirectory(prefix="kpl-fuzz-")
APP = create_app(Settings(database_url=f"sqlite:///{Path(_DB_DIR.name) / 'fuzz.sqlite3'}"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _database_dir() -> Iterator[None]:
    yield
    _DB_DIR.cleanup()


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(APP)


def _check(case: schemathesis.Case, response: Any) -> None:
    case.validate_response(response, checks=CHECKS)
    assert "Traceback" not in response.text


@schema.parametrize()
@FUZZ
def test_every_operation_on_real_objects(case: schemathesis.Case, keys: Keys) -> None:
    keys.substitute(case)
    _check(case, keys.call(case))


@schema.parametrize()
@FUZZ
def test_every_operation_on_generated_ids(case: schemathesis.Case, keys: Keys) -> None:
    _check(case, keys.call(case))


class LabMachine(schema.include(path_regex="^/api/labs").as_state_machine()):  # type: ignore[misc]
    """Create labs, then follow the schema's links into them; each lab is opened with the
    bearer token its creation answered."""

    tokens: dict[str, str] = {}  # noqa: RUF012 -- shared by the machine's runs, on purpose

    def before_call(self, case: schemathesis.Case) -> None:
        lab_id = (case.path_parameters or {}).get("lab_id")
        token = self.tokens.get(lab_id or "")
        if token:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    def after_call(self, response: Any, case: schemathesis.Case) -> None:
        super().after_call(response, case)
        if case.path == "/api/labs" and response.status_code == 201:
            body = response.json()
            self.tokens[body["id"]] = body["token"]

    def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
        case.validate_response(response, checks=CHECKS)
        assert "Traceback" not in response.text


def test_created_labs_followed_by_their_links() -> None:
    LabMachine.run(
        settings=settings(FUZZ, max_examples=max(3, EXAMPLES // 2), stateful_step_count=6)
    )
    assert LabMachine.tokens, "the machine never created a lab"
