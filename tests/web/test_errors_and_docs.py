"""Unknown addresses and the API reference: pages for browsers, JSON for scripts, no CDN."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.web.i18n import translate

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_a_browser_gets_a_translated_404_page(client: TestClient) -> None:
    for lang in ("en", "zh"):
        answer = client.get(f"/no/such/page?lang={lang}", headers=BROWSER)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert translate(lang, "error.not_found.title") in answer.text


def test_scripts_and_the_api_get_json_404s(client: TestClient) -> None:
    answer = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}
    answer = client.get("/api/no-such-thing", headers=BROWSER)
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}


def test_method_not_allowed_stays_json(client: TestClient) -> None:
    answer = client.post("/healthz", headers=BROWSER)
    assert answer.status_code == 405


def test_api_reference_loads_everything_from_this_server(client: TestClient) -> None:
    answer = client.get("/docs")
    assert answer.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", answer.text)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)
    for url in urls:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url
    assert client.get("/openapi.json").json()["info"]["title"] == "KubeProxy Lab"
