"""The lab page in real Chromium in nftables mode: switch the seed lab to nftables, curl the
Service, the player walks the `ip kube-proxy` table's rules (nft rule text, the verdict map
lookup, numgen), the rules panel shows `nft list table ip kube-proxy`, and a learner's
`nft delete rule` of an endpoint's DNAT shows in the next requests. Screenshots under
tests/e2e/artifacts/."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

Shot = Callable[..., object]
VIP = "10.97.139.74:8080"
# How many curls have answered so far (a pod's reply or curl's failure), in the console log.
ANSWERS = """n => (document.querySelector('#console-log').textContent
    .match(/hello from|Failed to connect/g) || []).length >= n"""


def _run(page: Page, command: str, expect_text: str) -> None:
    console = page.locator("#console-input")
    console.fill(command)
    console.press("Enter")
    expect(page.locator("#console-log")).to_contain_text(expect_text, timeout=15_000)


def _trace(page: Page) -> dict:
    return json.loads(page.locator("#trace-data").text_content() or "{}")


def test_nftables_mode_in_the_page(page: Page, screenshot: Shot, browser_errors: list[str]):
    page.goto("/lab?lang=en")
    page.locator('select[name="mode"]').select_option("nftables")
    expect(page.locator('select[name="mode"]')).to_have_value("nftables", timeout=15_000)
    page.wait_for_load_state("networkidle")
    _run(page, f"curl {VIP}", "hello from my-first-deploy")
    trace = _trace(page)
    nft_steps = [s for s in trace["steps"] if s.get("handle") is not None]
    assert nft_steps and {s["table"] for s in nft_steps} == {"kube-proxy"}
    player = page.locator("#player [data-player]")
    player.locator('[data-action="restart"]').click()
    rule = player.locator("pre.rule-text").first  # the nft rule text as `nft list` prints it
    shot = False
    for step in trace["steps"]:
        player.locator('[data-action="forward"]').click()
        expect(player.locator('[data-field="hook"]')).to_have_text(step["hook"])
        if step.get("handle") is not None:
            expect(player.locator('[data-field="table"]')).to_have_text("kube-proxy")
        lookup = step.get("lookup") or {}
        if lookup.get("kind") == "vmap" and lookup.get("result") and not shot:
            expect(rule).to_contain_text("vmap @service-ips")
            rule.evaluate("el => el.scrollIntoView({block: 'center'})")
            page.wait_for_timeout(900)  # the token's move to its place
            screenshot(page, "lab-mode-nftables-vmap")
            shot = True
    assert shot
    view = page.locator("#rules details.mode-view").first
    expect(view).to_contain_text("$ nft list table ip kube-proxy")
    expect(view.locator("pre")).to_contain_text("vmap @service-ips")
    view.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    screenshot(page, "lab-mode-nftables-rules-panel")
    assert browser_errors == []


def test_deleting_an_endpoints_dnat_in_the_console(page: Page, screenshot: Shot):
    page.goto("/lab?lang=en")
    page.locator('select[name="mode"]').select_option("nftables")
    expect(page.locator('select[name="mode"]')).to_have_value("nftables", timeout=15_000)
    page.wait_for_load_state("networkidle")
    _run(page, "nft -a list table ip kube-proxy", "dnat to 10.244.1.137:8080 # handle")
    log = page.locator("#console-log").text_content() or ""
    chain = re.search(r"chain (endpoint-\S+__10\.244\.1\.137/8080) \{", log)
    handle = re.search(r"dnat to 10\.244\.1\.137:8080 # handle (\d+)", log)
    assert chain and handle
    _run(
        page,
        f"nft delete rule ip kube-proxy {chain.group(1)} handle {handle.group(1)}",
        "nft delete rule",
    )
    # Half the new connections leave the edited chain without DNAT and fail in curl's words;
    # an answer only ever comes from the other pod.
    console = page.locator("#console-input")
    for n in range(1, 7):
        console.fill(f"curl --max-time 1 {VIP}")
        console.press("Enter")
        page.wait_for_function(ANSWERS, arg=n, timeout=15_000)
    log = page.locator("#console-log").text_content() or ""
    assert "Failed to connect to 10.97.139.74 port 8080" in log
    assert "hello from my-first-deploy-785c6c79d9-g4xr7" in log
    assert "hello from my-first-deploy-785c6c79d9-7bgf5" not in log
    screenshot(page, "lab-mode-nftables-deleted-dnat", full_page=True)
