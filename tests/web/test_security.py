"""CSRF protection and security headers: every state-changing route refuses a cookie-carrying
request without its session's token, in the learner's language and never with a 500; the token
from the page is accepted as a header or a form field; bearer-token scripts are exempt; other
sites are refused; every response carries the CSP and its companions."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from csrf_client import CsrfClient, page_token
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Route

from app.config import Settings
from app.web.app import create_app
from app.web.i18n import translate
from app.web.security import CSRF_FIELD, server_secret, token_for

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PARAMS = {"lab_id": None, "token": "nosuchshare", "code": "ZZZZZZ", "lesson_id": "x", "run_id": "x"}


def _routes(routes: list[BaseRoute]) -> Iterator[Route]:
    """Every endpoint of the app, including those of routers FastAPI includes lazily."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(route, Route):
            yield route


def state_changing(app: FastAPI) -> list[tuple[str, str]]:
    found = [
        (method, route.path)
        for route in _routes(app.routes)
        for method in sorted((route.methods or set()) & UNSAFE)
    ]
    assert len(found) >= 20, found  # the walk reached the routers (a new one is included too)
    return found


def _browser(client: TestClient) -> tuple[str, str]:
    """Open the lab as a browser does: the session cookie, the lab id and the page's token."""
    page = client.get("/lab?lang=en")
    assert page.status_code == 200
    lab_id = re.search(r'data-lab="(\w+)"', page.text)
    assert lab_id
    return lab_id.group(1), page_token(page.text)


@pytest.fixture
def raw(client: CsrfClient) -> CsrfClient:
    """The test client without its automatic token: requests go out exactly as written."""
    client.csrf = False
    return client


def test_every_state_changing_route_refuses_a_session_without_its_token(raw: CsrfClient) -> None:
    lab_id, token = _browser(raw)
    params = {**PARAMS, "lab_id": lab_id}
    for method, path in state_changing(raw.app):
        url = path.format(**params)
        refused = raw.request(method, url, data={"x": "1"})
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.headers["X-CSRF-Refused"] == "1"
        wrong = raw.request(method, url, headers={"X-CSRF-Token": token[:-2] + "AA"})
        assert wrong.status_code == 403, (method, path)
        accepted = raw.request(method, url, headers={"X-CSRF-Token": token})
        assert "X-CSRF-Refused" not in accepted.headers, (method, path)
        assert accepted.status_code < 500, (method, path, accepted.text)
        if not path.startswith("/api"):
            as_field = raw.request(method, url, data={CSRF_FIELD: token})
            assert "X-CSRF-Refused" not in as_field.headers, (method, path)
            assert as_field.status_code < 500, (method, path)


def test_a_refused_command_changes_nothing_and_the_token_lets_it_through(raw: CsrfClient) -> None:
    lab_id, token = _browser(raw)
    page = raw.get("/lab").text
    version = re.search(r'id="lab-version" name="version" value="(\d+)"', page).group(1)
    command = {"command": "kubectl scale deployment/my-first-deploy --replicas=3"}
    refused = raw.post(f"/lab/{lab_id}/run", data={**command, "version": version})
    assert refused.status_code == 403
    assert raw.get("/lab").text.count('class="pod pod-ready"') == 2
    done = raw.post(
        f"/lab/{lab_id}/run", data={**command, "version": version}, headers={"X-CSRF-Token": token}
    )
    assert done.status_code == 200
    assert raw.get("/lab").text.count('class="pod pod-ready"') == 3


def test_a_token_from_another_session_is_refused(make_client: Any) -> None:
    mine = make_client()
    mine.csrf = False
    lab_id, _ = _browser(mine)
    other = type(mine)(mine.app)
    _, their_token = _browser(other)
    answer = mine.post(
        f"/lab/{lab_id}/run",
        data={"command": "kubectl get pods"},
        headers={"X-CSRF-Token": their_token},
    )
    assert answer.status_code == 403
    # The same token sent as the form field is refused just the same.
    answer = mine.post(
        f"/lab/{lab_id}/run", data={"command": "kubectl get pods", CSRF_FIELD: their_token}
    )
    assert answer.status_code == 403


def test_bearer_token_scripts_need_no_csrf_token(raw: CsrfClient) -> None:
    created = raw.post("/api/labs", json={"scenario": "seed"})  # no cookie yet: a new identity
    assert created.status_code == 201
    assert "kpl_session" in raw.cookies  # the browser-style cookie came too, and is now ambient
    auth = {"Authorization": f"Bearer {created.json()['token']}"}
    lab_id = created.json()["id"]
    answer = raw.post(
        f"/api/labs/{lab_id}/commands", json={"command": "kubectl get pods"}, headers=auth
    )
    assert answer.status_code == 200 and answer.json()["ok"] is True
    # The same call on the strength of the cookie alone is what CSRF would forge: refused.
    forged = raw.post(f"/api/labs/{lab_id}/commands", json={"command": "kubectl get pods"})
    assert forged.status_code == 403 and "detail" in forged.json()


def test_a_first_visit_without_any_cookie_may_start_something(raw: CsrfClient) -> None:
    answer = raw.post("/quiz/start", data={"kind": "interview"}, follow_redirects=False)
    assert answer.status_code != 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://testserver.evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_another_site_is_refused_even_with_a_token(
    raw: CsrfClient, headers: dict[str, str]
) -> None:
    lab_id, token = _browser(raw)
    answer = raw.post(
        f"/lab/{lab_id}/run",
        data={"command": "kubectl get pods"},
        headers={**headers, "X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert answer.status_code == 403
    assert answer.json()["detail"] == translate("en", "security.csrf.cross_site")
    # Without any cookie too: another site cannot even start a lab in the visitor's name.
    fresh = type(raw)(raw.app)
    assert fresh.post("/api/labs", json={}, headers=headers).status_code == 403


@pytest.mark.parametrize(
    "origin",
    [
        "http://testserver",
        "https://testserver",
        "http://testserver:8080",  # a proxy that drops the port from Host (nginx's $host)
    ],
)
def test_this_site_is_accepted(raw: CsrfClient, origin: str) -> None:
    lab_id, token = _browser(raw)
    same = {"Origin": origin, "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": token}
    answer = raw.post(f"/lab/{lab_id}/run", data={"command": "kubectl get pods"}, headers=same)
    assert answer.status_code == 200


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_refusals_speak_the_learners_language_in_each_format(raw: CsrfClient, lang: str) -> None:
    lab_id, _ = _browser(raw)
    raw.cookies.delete("lang")  # the page set English; Accept-Language decides now
    message = translate(lang, "security.csrf.missing")
    accept = {"Accept-Language": lang}
    api = raw.post(f"/api/labs/{lab_id}/commands", json={"command": "x"}, headers=accept)
    assert api.status_code == 403 and api.json() == {"detail": message}
    htmx = raw.post(
        f"/lab/{lab_id}/run", data={"command": "x"}, headers={**accept, "HX-Request": "true"}
    )
    assert htmx.status_code == 403
    assert htmx.text.startswith('<p class="notice error" role="alert"') and message in htmx.text
    page = raw.post(
        "/quiz/start", data={"kind": "interview"}, headers={**accept, "Accept": "text/html"}
    )
    assert page.status_code == 403 and "<!doctype html>" in page.text
    assert message in page.text and translate(lang, "security.forbidden.title") in page.text


def test_every_post_form_of_a_page_carries_the_token(client: CsrfClient) -> None:
    _browser(client)  # a session: from now on every page carries its token
    for path in ("/quiz", "/classroom", "/lessons/" + _first_lesson(client), "/trace", "/lab"):
        page = client.get(path)
        assert page.status_code == 200, path
        token = page_token(page.text)
        forms = re.findall(r"<form\b[^>]*>", page.text)
        posting = [form for form in forms if 'method="post"' in form]
        fields = re.findall(
            rf'<input type="hidden" name="{CSRF_FIELD}" value="([^"]+)">', page.text
        )
        assert len(fields) >= len(posting) and set(fields) <= {token}, path
        assert path == "/lab" or posting, path  # the lab posts through htmx, with the meta tag


def test_a_first_page_view_starts_no_session_and_needs_no_token(raw: CsrfClient) -> None:
    home = raw.get("/")
    assert '<meta name="csrf-token" content="">' in home.text
    assert "set-cookie" not in home.headers


def test_a_session_started_by_an_htmx_post_hands_its_token_to_the_page(raw: CsrfClient) -> None:
    created = raw.post("/api/labs", json={})  # no cookie before: this response starts a session
    token = created.headers["X-CSRF-Token"]
    assert token == page_token(raw.get("/").text)


def _first_lesson(client: TestClient) -> str:
    found = re.search(r'href="/lessons/([\w-]+)"', client.get("/lessons").text)
    assert found
    return found.group(1)


def test_a_plain_form_with_the_field_is_accepted(client: CsrfClient) -> None:
    client.csrf = False
    page = client.get("/quiz")
    answer = client.post(
        "/quiz/start",
        data={"kind": "interview", CSRF_FIELD: page_token(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code in (200, 303), answer.text


def _token_in_new_process(database_url: str, env: dict[str, str] | None = None) -> str:
    code = (
        "from app.config import Settings; from app.web.app import create_app; "
        "from app.web.security import server_secret, token_for; import sys; "
        "app = create_app(Settings(database_url=sys.argv[1])); "
        "print(token_for(server_secret(app), 'one-session'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, database_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_processes_sharing_a_database_agree_on_the_token(
    make_client: Any, database_url: str
) -> None:
    client = make_client()  # migrates
    here = token_for(server_secret(client.app), "one-session")
    assert _token_in_new_process(database_url) == here
    assert _token_in_new_process(database_url) == here
    assert token_for(server_secret(client.app), "another-session") != here


def test_the_secret_key_setting_overrides_the_stored_secret(
    make_client: Any, database_url: str
) -> None:
    stored = token_for(server_secret(make_client().app), "one-session")
    keyed = [
        token_for(
            server_secret(create_app(Settings(database_url=database_url, secret_key="k1"))),
            "one-session",
        )
        for _ in range(2)
    ]
    assert keyed[0] == keyed[1] != stored


HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": "DENY",
}


def test_every_response_carries_the_security_headers(raw: CsrfClient) -> None:
    lab_id, _ = _browser(raw)
    answers = [
        raw.get("/"),
        raw.get("/lab"),
        raw.get("/docs"),
        raw.get("/openapi.json"),
        raw.get("/healthz"),
        raw.get("/static/css/app.css"),
        raw.get("/no/such/page", headers={"Accept": "text/html"}),
        raw.post(f"/lab/{lab_id}/run", data={}),  # a refusal
        raw.post("/api/labs", json={}, headers={"Authorization": "Bearer x"}),
    ]
    for answer in answers:
        for name, value in HEADERS.items():
            assert answer.headers.get(name) == value, (answer.url, name)
        assert "camera=()" in answer.headers["permissions-policy"]
        csp = answer.headers["content-security-policy"]
        policy = dict(part.strip().partition(" ")[::2] for part in csp.split(";"))
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert policy["script-src"] == "'self'"  # no inline script, no eval, no other origin
        assert policy["style-src"] == "'self'" and "unsafe" not in csp
        assert "http" not in answer.headers["content-security-policy"]  # no third-party origin
        assert "strict-transport-security" not in answer.headers  # plain HTTP here


def test_cookies_are_secure_over_https_only(make_client: Any) -> None:
    app = make_client().app
    plain = TestClient(app).get("/lab")
    assert (
        "kpl_session=" in plain.headers["set-cookie"]
        and "Secure" not in plain.headers["set-cookie"]
    )
    tls = TestClient(app, base_url="https://testserver").get("/lab?lang=zh")
    cookies = tls.headers.get_list("set-cookie")
    assert any(c.startswith("kpl_session=") for c in cookies) and any(
        c.startswith("lang=") for c in cookies
    )
    assert all("; Secure" in cookie for cookie in cookies), cookies
    assert tls.headers["strict-transport-security"].startswith("max-age=")


def test_the_token_in_a_multipart_form_is_found_and_odd_bodies_are_no_500(raw: CsrfClient) -> None:
    lab_id, token = _browser(raw)
    url = f"/lab/{lab_id}/import"
    sent = raw.post(url, data={CSRF_FIELD: token}, files={"dump": ("d.txt", b"*nat\nCOMMIT\n")})
    assert "X-CSRF-Refused" not in sent.headers and sent.status_code < 500
    for content_type, body in [
        ("multipart/form-data; boundary=x", b"--x\r\nnot a part"),
        ("multipart/form-data", b"no boundary at all"),
        ("application/x-www-form-urlencoded", b"csrf_token=%ZZ&\xff\xfe"),
        ("application/json", b'{"csrf_token": "' + token.encode() + b'"}'),
    ]:
        answer = raw.post(url, content=body, headers={"Content-Type": content_type})
        assert answer.status_code == 403, (content_type, answer.status_code)
    big = raw.post(url, content=b"a" * (5 * 1024 * 1024), headers={"Content-Type": "text/plain"})
    assert big.status_code == 403
