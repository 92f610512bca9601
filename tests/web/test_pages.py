"""The home page: content, navigation that never leads to a 404, assets served locally."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.web.i18n import translate


def test_home_says_what_the_app_is(client: TestClient) -> None:
    html = client.get("/?lang=en").text
    assert translate("en", "home.lead") in html
    html = client.get("/?lang=zh").text
    assert translate("zh", "home.lead") in html
    assert "简体中文" in html and "English" in html  # the switch offers both


def test_no_untranslated_key_reaches_the_page(client: TestClient) -> None:
    # translate() falls back to the key itself, so a missing string shows up as "home.x.y".
    for lang in ("en", "zh"):
        html = client.get(f"/?lang={lang}").text
        pattern = r'[>"]\s*(?:app|nav|lang|present|home|footer)\.[a-z_.]+\s*[<"]'
        assert not re.search(pattern, html), lang


def test_every_internal_link_answers(client: TestClient) -> None:
    html = client.get("/").text
    links = set(re.findall(r'href="(/[^"#]*)"', html))
    assert links, "no internal links found"
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link


def test_scripts_and_styles_come_from_this_server(client: TestClient) -> None:
    html = client.get("/").text
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|svg))"', html)
    assert any("htmx-2" in asset for asset in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert client.get(asset).status_code == 200, asset


def test_presenter_mode_from_query_is_remembered(client: TestClient) -> None:
    assert '<body class="present">' in client.get("/?present=1").text
    assert '<body class="present">' in client.get("/").text
    assert '<body class="">' in client.get("/?present=0").text


def test_page_has_landmarks_and_a_skip_link(client: TestClient) -> None:
    html = client.get("/").text
    for landmark in ("<header", '<main id="main"', "<footer", "<nav"):
        assert landmark in html
    assert 'href="#main"' in html
