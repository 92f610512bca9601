"""The Content-Security-Policy holds in a real browser: every main page loads under it with no
violation reported and no console error, and still works (the lab console runs a command and
edits a rule, charts draw, the API reference renders and "Try it out" posts with the token)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.web.i18n import translate

#: Collects every CSP violation the page reports, before any of its scripts run.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " +
                    (e.sourceFile || "") + ":" + (e.lineNumber || 0));
}, true);
"""


@pytest.fixture
def watched(page: Page) -> Page:
    page.add_init_script(WATCH)
    return page


def _clean(page: Page, browser_errors: list[str]) -> None:
    violations = page.evaluate("window.__csp")
    assert violations == [], "\n".join(violations)
    assert browser_errors == []


def _policy(page: Page, path: str) -> str:
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    return response.headers["content-security-policy"]


def test_the_lab_works_under_the_policy(watched: Page, browser_errors: list[str]) -> None:
    page = watched
    policy = _policy(page, "/lab?lang=en")
    assert "script-src 'self'" in policy and "unsafe-inline' " not in policy.split("script-src")[1]
    console = page.locator("#console-input")
    console.fill("kubectl get svc")
    console.press("Enter")
    expect(page.locator("#console-log")).to_contain_text("my-first-deploy", timeout=10_000)
    console.fill("curl 10.97.139.74:8080")
    console.press("Enter")
    expect(page.locator("#console-log")).to_contain_text("hello from", timeout=10_000)
    # A button's swap settles attributes (htmx would re-set a style="" the console's JS gave).
    scale = translate("en", "lab.cluster.scale_up", name="my-first-deploy")
    page.get_by_role("button", name=scale).click()
    expect(page.locator("#cluster .pod")).to_have_count(3, timeout=10_000)
    # A rule's explain button (an htmx table with a click handler) opens its pop-over.
    nat = page.locator(
        "#rules details.table-block", has=page.locator("summary code", has_text=re.compile("^nat$"))
    )
    chain = nat.locator(
        "details.chain-block",
        has=page.locator("code.chain-name", has_text=re.compile(r"^KUBE-SERVICES$")),
    )
    if chain.get_attribute("open") is None:
        chain.locator("summary").first.click()
    button = chain.locator("button.xr").first
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(chain.locator(".xr-pop").first).to_contain_text("KUBE-SERVICES")
    _clean(page, browser_errors)


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/", "main h1"),
        ("/lessons", "main h1"),
        ("/quiz", "main h1"),
        ("/compare", ".main-svg"),
        ("/classroom", "main h1"),
        ("/trace", "#trace-form"),
    ],
)
def test_each_page_loads_without_a_violation(
    watched: Page, browser_errors: list[str], path: str, ready: str
) -> None:
    _policy(watched, path)
    expect(watched.locator(ready).first).to_be_attached(timeout=20_000)
    watched.wait_for_load_state("networkidle")
    _clean(watched, browser_errors)


def test_a_lesson_runs_a_command(watched: Page, browser_errors: list[str]) -> None:
    page = watched
    page.goto("/lessons")
    first = page.locator('a[href^="/lessons/"]').first
    href = first.get_attribute("href")
    assert href and re.match(r"^/lessons/[\w-]+$", href)
    _policy(page, href)
    command = page.locator("#lesson-command")
    command.fill("kubectl get pods")
    command.press("Enter")
    expect(command).to_have_value("", timeout=10_000)  # the reset-on-success handler ran
    expect(command).to_be_focused()
    _clean(page, browser_errors)


def test_the_api_reference_renders_and_tries_a_call(
    watched: Page, browser_errors: list[str]
) -> None:
    page = watched
    page.goto("/lab")  # a session, so "Try it out" carries the cookie and needs the token
    _policy(page, "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("KubeProxy Lab")
    operation = page.locator(".opblock-post", has_text="/api/labs").first
    operation.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda r: r.url.endswith("/api/labs")) as answer:
        page.get_by_role("button", name="Execute").click()
    assert answer.value.status == 201
    _clean(page, browser_errors)
