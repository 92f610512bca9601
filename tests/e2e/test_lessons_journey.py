"""A learner completes a whole lesson in a real browser, climbing the hint ladder to the
solution and typing it into the console, in English and in Chinese; the course map then
shows the lesson finished. A curl in a lesson hands its trace to the lesson's packet player.
Screenshots at 1280x720, 1920x1080, in presenter mode and at phone width."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from page_scripts import run_script
from playwright.sync_api import Page, expect

from app.curriculum.model import load_course
from app.web.i18n import translate

Shot = Callable[..., object]
LESSON = load_course().lessons["iptables-commands"]
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"


def _climb_to_solution(page: Page) -> list[str]:
    """Press the ladder's button until the solution (or, on a choice step, its note) shows;
    each press redraws the step panel with the next rung."""
    step = page.locator("#lesson-step")
    for rung in range(1, 8):
        button = step.locator(".lesson-ladder button")
        if button.count() == 0:
            break
        button.click()
        expect(step).to_have_attribute("data-rung", str(rung))
    expect(step.locator(".lesson-hints li").first).to_be_visible()
    return step.locator(".lesson-solution pre code").all_inner_texts()


def _complete(page: Page, lang: str, screenshot: Shot) -> None:
    for index, step in enumerate(LESSON.steps):
        heading = translate(lang, "lessons.step", step=str(index + 1), total=str(len(LESSON.steps)))
        expect(page.locator("#lesson-step-title")).to_have_text(heading)
        lines = _climb_to_solution(page)
        if index == 0:
            expect(page.locator(".lesson-goal")).to_be_visible()
            screenshot(page, f"lessons-ladder-{lang}-1280x720")
        if step.answer is not None:  # a concept step: pick the answer the hints lead to
            page.locator(f'input[name="answer"][value="{step.answer}"]').check()
            page.locator(".lesson-check button").click()
            expect(page.locator("#lesson-step")).not_to_have_attribute("data-step", str(index))
        for line in lines:
            page.locator("#lesson-command").fill(line)
            page.locator("#lesson-command").press("Enter")
            expect(page.locator("#lesson-log .lesson-cmd").last).to_contain_text(line)
    expect(page.locator(".lesson-recap")).to_have_text(LESSON.recap[lang])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_learner_completes_a_lesson_with_hints(
    page: Page, lang: str, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.goto(f"/lessons?lang={lang}")
    expect(page.locator("h1")).to_have_text(translate(lang, "lessons.title"))
    page.locator('a[href="/lessons/iptables-commands"]').click()
    expect(page.locator("#lesson-title")).to_have_text(LESSON.title[lang])
    _complete(page, lang, screenshot)
    screenshot(page, f"lessons-recap-{lang}-1280x720")
    page.goto("/lessons")
    card = page.locator(".lesson-card", has=page.locator('a[href="/lessons/iptables-commands"]'))
    expect(card.locator(".lesson-status")).to_have_attribute("data-status", "done")
    screenshot(page, f"lessons-map-{lang}-1280x720")
    assert browser_errors == []


def _curl_and_step_through_the_player(page: Page) -> None:
    """A curl in the console: the player below the lesson replays that very packet's walk."""
    player = page.locator("#player [data-player]")
    expect(player).to_have_count(0)  # nothing sent yet: the player waits for a request
    page.locator("#lesson-command").fill("curl 10.97.139.74:8080")
    page.locator("#lesson-command").press("Enter")
    expect(page.locator("#lesson-log .lesson-trace")).to_contain_text("KUBE-SERVICES")
    expect(player).to_be_visible()
    expect(player).not_to_have_attribute("data-empty", "")
    expect(page.locator("#player .player-diagram")).to_be_visible()
    trace = json.loads(page.locator("#player #trace-data").text_content() or "{}")
    expect(page.locator("#lesson-log .lesson-trace strong").last).to_have_text(trace["endpoint"])
    player.locator('[data-action="restart"]').click()  # the frame before netfilter
    chain, hook = player.locator('[data-field="chain"]'), player.locator('[data-field="hook"]')
    for step in trace["steps"][:6]:
        player.locator('[data-action="forward"]').click()
        expect(chain).to_have_text(step["chain"])
        expect(hook).to_have_text(step["hook"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_curl_in_a_lesson_plays_in_the_lessons_player(
    page: Page, lang: str, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.goto(f"/lessons/chain-walk?lang={lang}")
    cluster = page.locator("#cluster")
    expect(cluster.locator(".pod .badge.ok")).to_have_count(2)  # two ready pods
    expect(cluster.locator(".service .endpoint")).to_have_count(2)
    screenshot(page, f"lessons-lab-{lang}-1280x720")
    _curl_and_step_through_the_player(page)
    expect(page.locator("#lesson-step-title")).to_have_text(
        translate(lang, "lessons.step", step="2", total="2")
    )
    expect(page.locator("#player-title")).to_have_text(translate(lang, "lab.player.title"))
    page.locator("#player").scroll_into_view_if_needed()
    screenshot(page, f"lessons-player-{lang}-1280x720")
    page.locator("#lesson-command").fill("kubectl scale deployment my-first-deploy --replicas=3")
    page.locator("#lesson-command").press("Enter")
    expect(cluster.locator(".pod")).to_have_count(3)  # the same answer redraws the cluster
    expect(page.locator("#player #trace-data")).to_have_count(1)  # and keeps the last walk
    assert browser_errors == []


def test_lesson_lab_at_phone_width(page: Page, screenshot: Shot) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/lessons/chain-walk?lang=en")
    _curl_and_step_through_the_player(page)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"
    screenshot(page, "lessons-lab-phone-390", full_page=True)


def test_lesson_page_at_1920x1080_and_in_presenter_mode(page: Page, screenshot: Shot) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto("/lessons/chain-walk?lang=zh")
    page.locator("#lesson-command").fill("curl 10.97.139.74:8080")
    page.locator("#lesson-command").press("Enter")
    expect(page.locator("#lesson-log .lesson-trace")).to_contain_text("KUBE-SERVICES")
    expect(page.locator("#lesson-step-title")).to_have_text("第 2 / 2 步")
    expect(page.locator("#player .player-diagram")).to_be_visible()
    screenshot(page, "lessons-lesson-zh-1920x1080")
    screenshot(page, "lessons-lesson-zh-1920x1080-full", full_page=True)
    page.goto("/lessons/chain-walk?present=1&lang=en")
    assert page.locator("body").get_attribute("class") == "present"
    page.locator("#lesson-command").fill("curl 10.97.139.74:8080")
    page.locator("#lesson-command").press("Enter")
    expect(page.locator("#player .player-diagram")).to_be_visible()
    screenshot(page, "lessons-lesson-present-en-1920x1080")
    screenshot(page, "lessons-lesson-present-en-1920x1080-full", full_page=True)
    page.goto("/lessons")
    screenshot(page, "lessons-map-en-1920x1080")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations_on_a_lesson(page: Page, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto("/lessons/chain-walk?lang=en")
    page.locator("#lesson-command").fill("curl 10.97.139.74:8080")
    page.locator("#lesson-command").press("Enter")
    expect(page.locator("#lesson-log .lesson-trace")).to_contain_text("KUBE-SERVICES")
    page.locator("#lesson-step .lesson-ladder button").click()
    expect(page.locator("#lesson-step")).to_have_attribute("data-rung", "1")
    for path in ("", "/lessons"):
        if path:
            page.goto(path)
        run_script(page, AXE)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], serious
