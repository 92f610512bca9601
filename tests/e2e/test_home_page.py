"""The home page in a real browser: both languages, the keyboard, presenter mode, screenshots."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from app.web.i18n import translate
from app.web.templating import HTMX_VERSION

Shot = Callable[..., object]


def _font_px(page: Page, selector: str) -> float:
    return page.eval_on_selector(selector, "el => parseFloat(getComputedStyle(el).fontSize)")


def test_home_in_both_languages_with_a_keyboard_switch(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.set_extra_http_headers({"Accept-Language": "en-US,en;q=0.9"})
    page.goto("/")
    assert page.locator("h1").inner_text() == translate("en", "home.title")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.evaluate("window.htmx && htmx.version") == HTMX_VERSION  # the vendored copy
    screenshot(page, "home-en-1280x720")

    # Reach the switch the way a keyboard user does: Tab from the top of the page, then Enter.
    switch = page.locator('.lang-switch a[data-lang="zh"]')
    for _ in range(20):
        page.keyboard.press("Tab")
        if switch.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("the language switch cannot be reached with Tab")
    outline = switch.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "keyboard focus must be visible"
    page.keyboard.press("Enter")
    page.wait_for_load_state()

    assert page.locator("h1").inner_text() == translate("zh", "home.title")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "钩子 (hook)" in page.locator("main").inner_text()
    screenshot(page, "home-zh-1280x720", full_page=True)

    page.goto("/")  # the choice is remembered although the browser still prefers English
    assert page.locator("h1").inner_text() == translate("zh", "home.title")
    assert browser_errors == []


def test_presenter_mode_enlarges_type_at_1920x1080(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto("/?lang=en")
    normal = _font_px(page, "body")
    assert normal < 24

    page.keyboard.press("p")
    assert "present" in page.locator("body").get_attribute("class")
    assert _font_px(page, "body") >= 24
    assert page.locator("[data-present-toggle]").get_attribute("aria-pressed") == "true"

    page.goto("/")  # remembered across pages through the cookie
    assert _font_px(page, "body") >= 24
    screenshot(page, "home-present-1920x1080")

    page.locator("[data-present-toggle]").click()
    assert _font_px(page, "body") == normal
    assert browser_errors == []


def test_presenter_mode_from_the_address_bar(page: Page) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto("/?present=1&lang=zh")
    assert _font_px(page, "body") >= 24
    assert page.locator(".present-toggle").inner_text().strip() == translate("zh", "present.label")


def test_dark_theme_follows_the_system_setting(page: Page) -> None:
    background = "getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    page.goto("/")
    light = page.evaluate(background)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(background)
    assert light != dark
    # Dark means dark: every channel of the page background is below a quarter of full scale.
    channels = [int(c) for c in dark[dark.index("(") + 1 : -1].split(",")[:3]]
    assert max(channels) < 64, dark
