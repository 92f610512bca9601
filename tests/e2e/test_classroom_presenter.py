"""Presenter mode for a projected classroom, in real Chromium: on the lab, lesson, quiz and
classroom pages at 1920x1080 the body text is at least 24 px with high contrast; zoomed to
640 px wide nothing overflows sideways; on /lab the packet player spans the width, follows a
clicker (PageDown/PageUp, arrows, space), its current hook glows like a laser pointer, and
`b` blanks the screen, `f` goes full screen."""

from __future__ import annotations

import urllib.request
from urllib.error import HTTPError

import pytest
from playwright.sync_api import Browser, Page, expect

PAGES = ["/lab", "/lessons", "/quiz", "/classroom"]
SMALL_TEXT = """() => {
  const small = [];
  const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    if (el.closest('svg, .visually-hidden, script, template, .js-plotly-plot')) continue;
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    const text = node.textContent.trim().slice(0, 40);
    if (size < 24) small.push(`${el.tagName}.${el.className} ${size}px: ${text}`);
  }
  return small;
}"""
# WCAG 2 contrast ratio of each paragraph's text against the first opaque background behind it.
CONTRAST = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0.9) return c;
    }
    return [255, 255, 255];
  };
  const shown = (p) => p.offsetWidth && p.textContent.trim();
  return [...document.querySelectorAll('main p')].filter(shown).map((p) => {
      const a = lum(rgb(getComputedStyle(p).color)), b = lum(background(p));
      return [(Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), p.textContent.trim().slice(0, 30)];
    });
}"""


def _served(server_url: str, path: str) -> bool:
    try:
        with urllib.request.urlopen(server_url + path, timeout=10) as answer:
            return answer.status == 200
    except HTTPError:
        return False


@pytest.mark.parametrize("path", PAGES)
def test_presenter_text_is_large_and_contrasted_and_fits_when_zoomed(
    browser: Browser, server_url: str, path: str
) -> None:
    if not _served(server_url, path):
        pytest.skip(f"{path} is not served by this build")
    context = browser.new_context(base_url=server_url, viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(f"{path}?present=1")
    assert page.evaluate(SMALL_TEXT) == []
    low = [(round(ratio, 2), text) for ratio, text in page.evaluate(CONTRAST) if ratio < 7]
    assert low == []  # WCAG AAA for body text
    page.set_viewport_size({"width": 640, "height": 900})  # 1280 px at 200 % zoom
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 640
    header = page.locator(".header-row")
    assert header.evaluate("el => el.scrollWidth <= el.clientWidth")
    context.close()


def _counter(page: Page) -> str:
    return page.locator("[data-field=counter]").inner_text()


def test_lab_player_follows_a_clicker_and_the_presenter_keys(
    browser: Browser, server_url: str
) -> None:
    context = browser.new_context(base_url=server_url, viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto("/lab?present=1")
    page.fill("#player input[name=to]", "svc/my-first-deploy:8080")
    page.click("#player .request-form button")
    expect(page.locator("[data-field=counter]")).to_be_visible(timeout=10_000)
    width = page.locator("#player").evaluate("el => el.getBoundingClientRect().width")
    assert width >= 0.9 * 1920
    page.locator("body").click(position={"x": 5, "y": 300})
    start = _counter(page)
    page.keyboard.press("PageDown")
    page.keyboard.press("PageDown")
    forward = _counter(page)
    assert forward != start
    page.keyboard.press("PageUp")
    assert _counter(page) not in (forward,)
    page.keyboard.press("ArrowRight")
    assert _counter(page) == forward
    glow = page.locator(".pl-hook.current .pl-hook-box").first
    assert "drop-shadow" in glow.evaluate("el => getComputedStyle(el).filter")

    page.keyboard.press("b")
    expect(page.locator("[data-blank]")).to_be_visible()
    page.keyboard.press("PageDown")  # the first key only brings the picture back
    expect(page.locator("[data-blank]")).to_have_count(0)
    assert _counter(page) == forward
    page.keyboard.press("f")
    page.wait_for_function("document.fullscreenElement !== null")
    page.keyboard.press("f")
    page.wait_for_function("document.fullscreenElement === null")
    context.close()


def test_presenter_keys_are_inert_outside_presenter_mode(browser: Browser, server_url: str) -> None:
    context = browser.new_context(base_url=server_url)
    page = context.new_page()
    page.goto("/lab?present=0")
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("b")
    expect(page.locator("[data-blank]")).to_have_count(0)
    context.close()
