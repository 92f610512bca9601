"""/compare in real Chromium: four columns for one request, replay of each mode in the
player, the scale charts drawn; English and Chinese, 1280x720 and presenter 1920x1080.
Screenshots are saved under tests/e2e/artifacts/."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from app.sim.compare import MODE_ORDER
from app.web.i18n import translate

Shot = Callable[..., object]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_four_columns_and_charts(page: Page, screenshot: Shot, browser_errors: list, lang: str):
    page.goto(f"/compare?lang={lang}")
    columns = page.locator(".compare-col")
    expect(columns).to_have_count(4)
    for mode in MODE_ORDER:
        col = page.locator(f".compare-col.mode-{mode}")
        expect(col.locator("h3")).to_have_text(translate(lang, f"compare.mode.{mode}"))
        # every mode delivered the request to one of the two pods
        expect(col.locator(".compare-numbers code")).to_contain_text("10.244.1.13")
    expect(page.locator(".compare-col.mode-userspace .badge.historical")).to_be_visible()
    expect(page.locator(".compare-col.mode-ipvs li.kind-ipvs")).to_have_count(1)
    expect(page.locator(".compare-col.mode-userspace li.kind-proxy")).to_have_count(1)
    expect(page.locator(".compare-scale .loadchart-plot")).to_have_count(2, timeout=15_000)
    screenshot(page, f"compare-{lang}")
    screenshot(page, f"compare-{lang}-full", full_page=True)
    assert browser_errors == []


@pytest.mark.parametrize("mode", MODE_ORDER)
def test_replay_each_mode_in_the_player(page: Page, screenshot: Shot, mode: str):
    page.goto("/compare")
    page.locator(f".compare-col.mode-{mode} a.button").click()
    trace = json.loads(page.locator("#trace-data").text_content() or "{}")
    assert trace["final"]["delivered"] == "out"
    player = page.locator("#player [data-player]")
    expect(player).not_to_have_attribute("data-empty", "")
    player.locator('[data-action="restart"]').click()
    hook = player.locator('[data-field="hook"]')
    for step in trace["steps"][:6]:
        player.locator('[data-action="forward"]').click()
        expect(hook).to_have_text(step["hook"])
    screenshot(page, f"compare-replay-{mode}")


def test_presenter_1920(browser: Browser, server_url: str, screenshot: Shot):
    context = browser.new_context(base_url=server_url, viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto("/compare?present=1&lang=zh")
    expect(page.locator(".compare-col")).to_have_count(4)
    expect(page.locator(".compare-scale .loadchart-plot")).to_have_count(2, timeout=15_000)
    # the four columns sit side by side at this width
    boxes = [page.locator(f".compare-col.mode-{m}").bounding_box() for m in MODE_ORDER]
    assert len({round(b["y"]) for b in boxes if b}) == 1
    screenshot(page, "compare-presenter-zh")
    context.close()


def test_bad_input_is_a_message(page: Page):
    response = page.goto("/compare?src=pod/nope&dst=svc/nope:80")
    assert response is not None and response.status == 400
    expect(page.locator(".field-error")).to_contain_text("not found")
