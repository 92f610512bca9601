"""In real Chromium: each rule of the /lab rules view explains itself on hover, keyboard focus
and tap, in the page language, and the rule editor answers a typed rule live (iptables' own
words, the bad token underlined, aria-invalid) or shows how it will be saved."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from page_scripts import run_script
from playwright.sync_api import Locator, Page, expect

Shot = Callable[..., object]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"


def _services(page: Page) -> Locator:
    nat = page.locator(
        "#rules details.table-block", has=page.locator("summary code", has_text=re.compile("^nat$"))
    )
    chain = nat.locator(
        "details.chain-block",
        has=page.locator("code.chain-name", has_text=re.compile(r"^KUBE-SERVICES$")),
    )
    if chain.get_attribute("open") is None:
        chain.locator("summary").first.click()
    return chain


def test_hover_shows_the_explanation_and_a_click_pins_it(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.goto("/lab?lang=en")
    chain = _services(page)
    button = chain.locator("button.xr").first
    pop = chain.locator(".xr-pop").first
    button.hover()
    expect(pop).to_be_visible()
    expect(pop).to_contain_text("appends to chain KUBE-SERVICES")
    expect(pop).to_contain_text("destination port is 8080")
    screenshot(page, "lab-en-explain-hover-1280x720")
    page.mouse.move(5, 5)
    expect(pop).to_be_hidden()
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    page.mouse.move(5, 5)
    expect(pop).to_be_visible()
    screenshot(page, "lab-en-explain-open-1280x720")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "false")
    assert browser_errors == []


def test_the_keyboard_opens_it_in_chinese(page: Page, screenshot: Shot) -> None:
    page.goto("/lab?lang=zh")
    chain = _services(page)
    button = chain.locator("button.xr").first
    button.focus()
    page.keyboard.press("Enter")
    pop = chain.locator(".xr-pop").first
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(pop).to_be_visible()
    expect(pop).to_contain_text("追加到链 KUBE-SERVICES")
    expect(pop).to_contain_text("目的端口为 8080")
    screenshot(page, "lab-zh-explain-open-1280x720")


def test_the_editor_validates_as_one_types(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.goto("/lab?lang=en")
    chain = _services(page)
    chain.locator("details.edit-chain > summary").click()
    spec = chain.locator("input[name=spec]")
    spec.fill("-p tcp --dportt 80 -j ACCEPT")
    check = chain.locator(".rule-check-slot")
    expect(check.locator("mark.bad-token")).to_have_text("--dportt", timeout=5_000)
    expect(check).to_contain_text('unknown option "--dportt"')
    expect(spec).to_have_attribute("aria-invalid", "true")
    screenshot(page, "lab-en-validate-error-1280x720")
    spec.fill("-p tcp --dport 80 -j ACCEPT")
    expect(check).to_contain_text("-A KUBE-SERVICES -p tcp -m tcp --dport 80 -j ACCEPT")
    expect(spec).to_have_attribute("aria-invalid", "false")
    # Changing the operation or the number checks the rule again, as that command.
    chain.locator("select[name=op]").select_option("replace")
    chain.locator("form.rule-edit input[name=number]").fill("9")
    chain.locator("form.rule-edit input[name=number]").dispatch_event("change")
    expect(check).to_contain_text("Index of replacement too big")
    expect(spec).to_have_attribute("aria-invalid", "true")
    # The check changed nothing: the chain still has its rules as before.
    expect(chain.locator("tr", has_text="--dport 80 -j ACCEPT")).to_have_count(0)
    assert browser_errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations_with_an_explanation_open(page: Page, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto("/lab?lang=en")
    chain = _services(page)
    chain.locator("button.xr").first.click()
    expect(chain.locator(".xr-pop").first).to_contain_text("appends to chain")
    chain.locator("details.edit-chain > summary").click()
    chain.locator("input[name=spec]").fill("-p tcp --dport abc -j ACCEPT")
    expect(chain.locator("mark.bad-token")).to_have_text("abc", timeout=5_000)
    run_script(page, AXE)
    result = page.evaluate("axe.run('#rules', {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], serious
