"""The lab page in real Chromium runs the seed scenario in each kube-proxy mode: switching
the mode select, a curl reaches a pod, and the player replays the walk, including the IPVS
director's step and the userspace proxy's step. IPVS's fallback notice and the userspace
retry are shown too. Screenshots under tests/e2e/artifacts/."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from app.sim.lab import MODES

Shot = Callable[..., object]
VIP = "10.97.139.74:8080"
SHOWN_AT = {"ipvs": "ipvs", "userspace": "proxy"}


def _run(page: Page, command: str, expect_text: str) -> None:
    console = page.locator("#console-input")
    console.fill(command)
    console.press("Enter")
    expect(page.locator("#console-log")).to_contain_text(expect_text, timeout=15_000)


def _switch(page: Page, mode: str) -> None:
    page.locator('select[name="mode"]').select_option(mode)
    expect(page.locator('select[name="mode"]')).to_have_value(mode, timeout=15_000)
    page.wait_for_load_state("networkidle")


def _trace(page: Page) -> dict:
    return json.loads(page.locator("#trace-data").text_content() or "{}")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_serves_the_seed_and_the_player_shows_it(
    page: Page, screenshot: Shot, browser_errors: list[str], mode: str
) -> None:
    page.goto("/lab?lang=en")
    _switch(page, mode)
    _run(page, f"curl {VIP}", "hello from my-first-deploy")
    trace = _trace(page)
    assert trace["endpoint"] in ("10.244.1.137:8080", "10.244.1.138:8080")
    player = page.locator("#player [data-player]")
    expect(player).not_to_have_attribute("data-empty", "")
    player.locator('[data-action="restart"]').click()
    hook = player.locator('[data-field="hook"]')
    for step in trace["steps"]:
        player.locator('[data-action="forward"]').click()
        expect(hook).to_have_text(step["hook"])
        if step["kind"] == "proxy":
            expect(player.locator('[data-field="table"]')).to_have_text("kube-proxy")
            expect(player.locator('[data-field="rule"]')).to_contain_text(step["endpoint"])
        if step["kind"] == SHOWN_AT.get(mode):
            page.locator("#player").scroll_into_view_if_needed()
            page.wait_for_timeout(900)  # the token's move to its place
            screenshot(page, f"lab-mode-{mode}-decision")
    if mode in SHOWN_AT:
        assert any(s["kind"] == SHOWN_AT[mode] for s in trace["steps"])
    assert browser_errors == []


def test_ipvs_console_and_fallback_notice(page: Page, screenshot: Shot) -> None:
    page.goto("/lab?lang=zh")
    _switch(page, "ipvs")
    _run(page, "ipvsadm -Ln", f"TCP  {VIP} rr")
    view = page.locator("#rules details.mode-view").first
    expect(view).to_contain_text("$ ipvsadm -Ln")
    expect(view.locator("pre")).to_contain_text(f"TCP  {VIP} rr")
    view.evaluate("el => el.scrollIntoView({block: 'center'})")
    screenshot(page, "lab-mode-ipvs-rules-panel-zh")
    _run(page, "kubectl lab ipvs-scheduler wrr", "--ipvs-scheduler=wrr")
    _run(page, "ipvsadm -Ln", f"TCP  {VIP} wrr")
    _run(page, "kubectl lab ipvs-modules node/node1 false", "node/node1")
    expect(page.locator("body")).to_contain_text("回退到 iptables 模式", timeout=15_000)
    screenshot(page, "lab-mode-ipvs-fallback-zh")


def test_userspace_retries_a_killed_app(page: Page, screenshot: Shot) -> None:
    page.goto("/lab?lang=en")
    _switch(page, "userspace")
    _run(page, "kubectl lab kill-app pod/my-first-deploy-785c6c79d9-7bgf5", "stays Ready")
    src = "--from pod/my-first-deploy-785c6c79d9-g4xr7"
    for _ in range(2):  # round robin: one of two connections meets the dead pod first
        _run(page, f"curl {src} {VIP}", "hello from my-first-deploy-785c6c79d9-g4xr7")
    steps = [s for s in _trace(page)["steps"] if s["kind"] == "proxy"]
    assert steps and steps[0]["endpoint"] == "10.244.1.138:8080"
    screenshot(page, "lab-mode-userspace-retry", full_page=True)
