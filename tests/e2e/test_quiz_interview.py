"""A learner takes a 5-question mock interview in Chromium: the timer runs, the answers are
graded, mistakes come back for review, the progress chart draws; both languages, presenter
mode, screenshots at 1280x720 and 1920x1080."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from page_scripts import run_script
from playwright.sync_api import Page, expect

from app.curriculum.quiz import practice

Shot = Callable[..., object]


def _answer_right(page: Page) -> int:
    """Answer every question on the sheet the way its answer key says; returns how many."""
    sheets = page.locator("fieldset.quiz-question")
    for i in range(sheets.count()):
        sheet = sheets.nth(i)
        question = practice.resolve(sheet.get_attribute("data-ref") or "")
        assert question is not None
        if question.type in ("single", "multiple"):
            for value in sorted(question.correct):
                sheet.locator(f'input[name="a{i}"][value="{value}"]').check()
        elif question.type == "order":
            for position, item in enumerate(range(len(question.items)), start=1):
                sheet.locator(f'select[name="a{i}_{item}"]').select_option(str(position))
        elif question.type == "fill":
            sheet.locator(f'input[name="a{i}"]').fill(question.answers[0])
    return sheets.count()


def _start_mock(page: Page, count: str = "5") -> None:
    page.goto("/quiz")
    page.select_option("#quiz-count", count)
    page.locator("form.quiz-start button[type=submit]").click()
    page.wait_for_url("**/quiz/run/*")


def test_a_five_question_mock_interview(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.set_extra_http_headers({"Accept-Language": "en"})
    _start_mock(page)
    expect(page.locator("fieldset.quiz-question")).to_have_count(5)
    clock = page.locator("[data-quiz-clock]")
    first = clock.inner_text()
    page.wait_for_timeout(1600)
    assert clock.inner_text() != first, "the timer counts down"
    assert _answer_right(page) == 5
    screenshot(page, "quiz-mock-en-1280x720")
    page.locator("form.quiz-form button[type=submit]").click()
    expect(page.locator(".quiz-score strong")).to_have_text("5 / 5")
    screenshot(page, "quiz-result-en-1280x720")

    # A second interview left blank: five mistakes, each reviewed, then due for review.
    _start_mock(page)
    page.locator("form.quiz-form button[type=submit]").click()
    expect(page.locator(".quiz-score strong")).to_have_text("0 / 5")
    expect(page.locator(".quiz-reviewed.wrong")).to_have_count(5)
    screenshot(page, "quiz-review-en-1280x720", full_page=True)
    page.goto("/quiz")
    expect(page.locator(".quiz-review button")).to_contain_text("5")
    expect(page.locator(".quiz-chart .main-svg").first).to_be_visible(timeout=15000)
    screenshot(page, "quiz-home-en-1280x720")
    page.locator(".quiz-chart").scroll_into_view_if_needed()
    screenshot(page, "quiz-progress-en-1280x720")
    page.locator(".quiz-review button").click()
    page.wait_for_url("**/quiz/run/*")
    expect(page.locator("fieldset.quiz-question")).to_have_count(5)
    assert browser_errors == []


def test_quiz_in_chinese_at_1920_and_in_presenter_mode(
    page: Page, screenshot: Shot, browser_errors: list[str]
) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto("/quiz?lang=zh")
    expect(page.locator("h1")).to_have_text("面试练习")
    screenshot(page, "quiz-home-zh-1920x1080")
    page.locator("form.quiz-drills button[value=tables-chains]").click()
    page.wait_for_url("**/quiz/run/*")
    expect(page.locator("fieldset.quiz-question")).to_have_count(5)
    screenshot(page, "quiz-drill-zh-1920x1080")
    page.goto(page.url + "?present=1")
    size = page.eval_on_selector(".quiz-prompt", "el => parseFloat(getComputedStyle(el).fontSize)")
    assert size >= 24, "presenter mode enlarges the questions"
    screenshot(page, "quiz-drill-zh-present-1920x1080")
    assert browser_errors == []


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"


def _serious(page: Page) -> list[object]:
    run_script(page, AXE)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations_on_the_quiz_pages(page: Page, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    _start_mock(page)
    assert _serious(page) == []
    page.locator("form.quiz-form button[type=submit]").click()
    expect(page.locator(".quiz-score")).to_be_visible()
    assert _serious(page) == []
    page.goto("/quiz?lang=zh")
    assert _serious(page) == []


def test_the_answers_are_sent_when_the_time_runs_out(page: Page) -> None:
    page.clock.install()
    _start_mock(page)
    expect(page.locator("[data-quiz-clock]")).to_have_text("7:30")
    page.locator('fieldset.quiz-question input[type="radio"]').first.check()
    page.clock.fast_forward("07:31")
    expect(page.locator(".quiz-score")).to_be_visible()
    expect(page.locator(".quiz-reviewed")).to_have_count(5)
