"""A learner's journey through /lab in real Chromium, in both languages: the console
(`kubectl get svc`, `curl`), the packet walk, deleting a KUBE-SEP jump in the rules editor so
the next request takes another path, a stale tab's 409, presenter mode, and an axe-core scan.
Screenshots of every state are saved under tests/e2e/artifacts/."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from page_scripts import run_script
from playwright.sync_api import Page, expect

from app.web.i18n import translate

Shot = Callable[..., object]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"
CLUSTER_IP = "10.97.139.74:8080"


def _run(page: Page, command: str, expect_text: str) -> None:
    console = page.locator("#console-input")
    console.fill(command)
    console.press("Enter")
    expect(page.locator("#console-log")).to_contain_text(expect_text, timeout=10_000)
    expect(console).to_have_value("")
    expect(console).to_be_focused()


def _trace(page: Page) -> dict:
    return json.loads(page.locator("#trace-data").text_content() or "{}")


def _play_to_the_end(page: Page, trace: dict) -> None:
    """Step through the player and check each step on screen is the engine's step."""
    player = page.locator("#player [data-player]")
    if player.count() == 0:  # no player on this build: the steps list shows the walk
        rows = page.locator("#player .step-row")
        expect(rows).to_have_count(len(trace["steps"]))
        return
    expect(player).not_to_have_attribute("data-empty", "")
    player.locator('[data-action="restart"]').click()  # the frame before netfilter
    chain, hook = player.locator('[data-field="chain"]'), player.locator('[data-field="hook"]')
    for step in trace["steps"]:
        player.locator('[data-action="forward"]').click()
        expect(chain).to_have_text(step["chain"])
        expect(hook).to_have_text(step["hook"])


def _delete_the_jump_to(page: Page, endpoint: str) -> None:
    """Open the KUBE-SVC chain and delete the rule that jumps to `endpoint`'s KUBE-SEP."""
    chain = page.locator(
        "#rules details.chain-block",
        has=page.locator("code.chain-name", has_text=re.compile(r"^KUBE-SVC-")),
    )
    if chain.get_attribute("open") is None:
        chain.locator("summary").first.click()
    row = chain.locator("tr", has_text=f"-> {endpoint}")
    expect(row).to_have_count(1)
    row.locator("button.danger").click()
    expect(chain.locator("tr", has_text=f"-> {endpoint}")).to_have_count(0, timeout=10_000)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_learner_runs_commands_watches_the_walk_and_edits_a_rule(
    page: Page, screenshot: Shot, browser_errors: list[str], lang: str
) -> None:
    page.goto(f"/lab?lang={lang}")
    expect(page.locator("h1")).to_have_text(translate(lang, "lab.title"))
    screenshot(page, f"lab-{lang}-1-open-1280x720")

    _run(page, "kubectl get svc", "10.97.139.74")
    _run(page, f"curl {CLUSTER_IP}", "hello from my-first-deploy")
    screenshot(page, f"lab-{lang}-2-console-1280x720")

    trace = _trace(page)
    assert trace["steps"], "curl hands its trace to the player"
    first = trace["endpoint"]
    assert first in ("10.244.1.137:8080", "10.244.1.138:8080")
    page.locator("#player").scroll_into_view_if_needed()
    _play_to_the_end(page, trace)
    screenshot(page, f"lab-{lang}-3-player-1280x720")

    hit = page.locator("#rules tr.hit")
    assert hit.count() > 0, "the rules the request matched are highlighted"
    _delete_the_jump_to(page, first)
    page.locator("#rules").scroll_into_view_if_needed()
    screenshot(page, f"lab-{lang}-4-rule-deleted-1280x720")

    _run(page, f"curl {CLUSTER_IP}", f"$ curl {CLUSTER_IP}")
    page.wait_for_function(
        "prev => { const el = document.getElementById('trace-data');"
        " return el && JSON.parse(el.textContent).endpoint !== prev; }",
        arg=first,
        timeout=10_000,
    )
    assert _trace(page)["endpoint"] != first, "the next request takes another path"
    screenshot(page, f"lab-{lang}-5-another-path-1280x720", full_page=True)
    assert browser_errors == []


def test_buttons_scale_and_fail_readiness_without_typing(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.goto("/lab?lang=en")
    page.get_by_role(
        "button", name=translate("en", "lab.cluster.scale_up", name="my-first-deploy")
    ).click()
    expect(page.locator("#cluster .pod")).to_have_count(3, timeout=10_000)
    notice = page.locator("#lab-notice")
    expect(notice).to_contain_text("KUBE-SVC-")
    expect(page.locator("#rules details.chain-block.changed").first).to_be_visible()
    screenshot(page, "lab-en-scaled-1280x720")

    first_pod = page.locator("#cluster .pod").first
    name = first_pod.locator(".pod-name").inner_text()
    first_pod.get_by_role("button", name=f"{translate('en', 'lab.pod.fail')} {name}").click()
    expect(page.locator("#cluster .pod.pod-notready")).to_have_count(1, timeout=10_000)
    screenshot(page, "lab-en-not-ready-1280x720")
    assert browser_errors == []


def test_a_stale_tab_is_told_to_reload(page: Page, browser_errors: list[str]) -> None:
    page.goto("/lab?lang=en")
    other = page.context.new_page()
    other.goto("/lab?lang=en")
    other.locator("#console-input").fill("kubectl scale deployment/my-first-deploy --replicas=3")
    other.locator("#console-input").press("Enter")
    expect(other.locator("#cluster .pod")).to_have_count(3, timeout=10_000)
    page.locator("#console-input").fill("kubectl get pods")
    page.locator("#console-input").press("Enter")
    expect(page.locator("#lab-notice")).to_contain_text(
        translate("en", "lab.error.conflict"), timeout=10_000
    )
    # The refused command changed nothing and the page shows the other tab's change.
    expect(page.locator("#cluster .pod")).to_have_count(3)
    # Chromium logs every 4xx answer ("status of 409 (Conflict)"); nothing else may appear.
    assert [e for e in browser_errors if "409" not in e] == []


def test_keyboard_history_and_completion(page: Page) -> None:
    page.goto("/lab?lang=en")
    _run(page, "kubectl get svc", "10.97.139.74")
    console = page.locator("#console-input")
    console.press("ArrowUp")
    expect(console).to_have_value("kubectl get svc")
    console.fill("kubectl get dep")
    console.press("Tab")
    expect(console).to_have_value(re.compile(r"^kubectl get deployments? ?$"))
    expect(console).to_be_focused()


def test_presenter_mode_and_phone_width(page: Page, screenshot: Shot) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto("/lab?lang=en&present=1")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 24
    _run(page, f"curl {CLUSTER_IP}", "hello from my-first-deploy")
    screenshot(page, "lab-present-1920x1080")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/lab?lang=zh&present=0")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px at phone width"
    screenshot(page, "lab-zh-phone-390x844", full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations(page: Page, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto("/lab?lang=en")
    _run(page, f"curl {CLUSTER_IP}", "hello from my-first-deploy")
    run_script(page, AXE)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious


def test_a_thousand_requests_draw_the_load_chart(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.goto("/lab?lang=en")
    panel = page.locator(".loadchart-panel")
    if panel.count() == 0:
        pytest.skip("this build has no load chart partial")
    panel.locator('input[name="count"]').fill("1000")
    panel.get_by_role("button").first.click()
    rows = panel.locator(".loadchart-table tbody tr")
    expect(rows).to_have_count(2, timeout=20_000)
    expect(panel.locator(".loadchart svg").first).to_be_visible(timeout=20_000)
    panel.scroll_into_view_if_needed()
    screenshot(page, "lab-en-load-chart-1280x720")
    assert browser_errors == []


def test_keyboard_focus_stays_in_the_panel_after_a_swap(page: Page) -> None:
    page.goto("/lab?lang=en")
    plus = page.get_by_role(
        "button", name=translate("en", "lab.cluster.scale_up", name="my-first-deploy")
    )
    plus.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#cluster .pod")).to_have_count(3, timeout=10_000)
    expect(page.locator("#cluster h2")).to_be_focused()
    focus = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus != "none", "the focused heading shows where the keyboard is"


def test_a_share_link_opens_read_only_for_a_visitor_who_can_fork_it(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.goto("/lab?lang=en")
    _run(page, "kubectl scale deployment/my-first-deploy --replicas=3", "scaled")
    page.get_by_role("button", name=translate("en", "lab.share"), exact=True).click()
    link = page.locator("#lab-share input")
    expect(link).to_have_value(re.compile(r"/lab/shared/"), timeout=10_000)
    url = link.input_value()

    visitor = page.context.browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        other = visitor.new_page()
        other.goto(url + "?lang=en")
        expect(other.locator(".readonly-badge")).to_be_visible()
        expect(other.locator("#console-input")).to_have_count(0)
        expect(other.locator("#cluster .pod")).to_have_count(3)
        screenshot(other, "lab-en-shared-read-only-1280x720")
        other.get_by_role("button", name=translate("en", "lab.shared.fork")).click()
        expect(other.locator("#console-input")).to_be_visible()
        expect(other.locator("#cluster .pod")).to_have_count(3)
    finally:
        visitor.close()
    assert browser_errors == []


def test_history_survives_a_reload(page: Page) -> None:
    page.goto("/lab?lang=en")
    _run(page, "kubectl get endpoints", "my-first-deploy")
    page.reload()
    console = page.locator("#console-input")
    console.focus()
    console.press("ArrowUp")
    expect(console).to_have_value("kubectl get endpoints")
