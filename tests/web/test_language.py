"""Language negotiation: ?lang=, then the cookie, then Accept-Language, then English."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from app.web.i18n import LANGUAGES, negotiate, parse_accept_language, translate
from app.web.preferences import resolve

EN_TITLE = translate("en", "home.title")
ZH_TITLE = translate("zh", "home.title")


def _title_language(html: str) -> str:
    assert (EN_TITLE in html) != (ZH_TITLE in html), "exactly one language must be on the page"
    return "en" if EN_TITLE in html else "zh"


def test_english_by_default(client: TestClient) -> None:
    answer = client.get("/")
    assert _title_language(answer.text) == "en"
    assert '<html lang="en">' in answer.text
    assert answer.headers["content-language"] == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, zh-Hans;q=0.5, en;q=0.3", "zh"),
        ("en;q=0.2, zh-TW;q=0.8", "zh"),
        ("zh;q=0, en;q=0.1", "en"),
        ("de, fr", "en"),
    ],
)
def test_accept_language_decides_without_a_choice(
    client: TestClient, header: str, expected: str
) -> None:
    answer = client.get("/", headers={"Accept-Language": header})
    assert _title_language(answer.text) == expected


def test_query_sets_a_cookie_that_is_remembered(client: TestClient) -> None:
    first = client.get("/?lang=zh", headers={"Accept-Language": "en"})
    assert _title_language(first.text) == "zh"
    assert '<html lang="zh-CN">' in first.text
    assert "lang=zh" in first.headers["set-cookie"]
    later = client.get("/", headers={"Accept-Language": "en"})
    assert _title_language(later.text) == "zh"
    assert "set-cookie" not in later.headers


def test_query_beats_cookie_and_cookie_beats_header(client: TestClient) -> None:
    client.cookies.set("lang", "zh")
    assert _title_language(client.get("/", headers={"Accept-Language": "en"}).text) == "zh"
    assert _title_language(client.get("/?lang=en").text) == "en"
    assert _title_language(client.get("/").text) == "en"  # the new choice is remembered


def test_unknown_language_is_ignored_not_stored(client: TestClient) -> None:
    answer = client.get("/?lang=klingon", headers={"Accept-Language": "zh-CN"})
    assert _title_language(answer.text) == "zh"
    assert "set-cookie" not in answer.headers


def test_language_switch_links_keep_the_page_and_other_parameters(client: TestClient) -> None:
    html = client.get("/?present=1&lang=en").text
    assert 'href="/?present=1&amp;lang=zh"' in html
    assert 'aria-current="true"' in html


def test_accept_language_parser_orders_by_quality_then_position() -> None:
    assert parse_accept_language("a;q=0.5, b, c;q=0.5, d;q=0") == ["b", "a", "c"]
    assert parse_accept_language("x;q=bogus, y") == ["y"]
    assert negotiate(None, "zh", "en") == "zh"
    assert negotiate("en", "zh", "zh") == "en"
    assert negotiate(None, None, None) == "en"


@given(st.text(max_size=200), st.text(max_size=20), st.text(max_size=20))
def test_any_header_cookie_or_query_yields_a_supported_language(
    header: str, cookie: str, query: str
) -> None:
    assert negotiate(query, cookie, header) in LANGUAGES


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120))
def test_malformed_cookie_headers_never_break_the_page(raw_cookie: str) -> None:
    scope = {"type": "http", "query_string": b"", "headers": [(b"cookie", raw_cookie.encode())]}
    lang, present, _ = resolve(scope)
    assert lang in LANGUAGES and isinstance(present, bool)
