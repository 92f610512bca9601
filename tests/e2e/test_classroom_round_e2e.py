"""A classroom round in real Chromium: a teacher and three students in their own browser
contexts. Join by code, push a question, answer, watch the projected chart count the answers
live, reveal the engine's answer, download the CSV. Screenshots: the projected teacher view
(1920x1080, presenter mode) and a student's phone (390x844)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from page_scripts import run_script
from playwright.sync_api import Browser, BrowserContext, Page, expect

from app.sim.classroom import build_item

TO = "svc/my-first-deploy:8080"
SEED = 3
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def contexts(browser: Browser, server_url: str) -> Iterator[Callable[..., BrowserContext]]:
    opened: list[BrowserContext] = []

    def make(**options: object) -> BrowserContext:
        context = browser.new_context(base_url=server_url, **options)  # type: ignore[arg-type]
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


def _errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def _join(context: BrowserContext, code: str, nickname: str) -> Page:
    page = context.new_page()
    page.goto(f"/classroom?code={code}")
    page.fill("input[name=nickname]", nickname)
    page.click(".classroom-join button[type=submit]")
    expect(page.locator("[data-waiting]")).to_be_visible()
    return page


def test_a_question_round_with_one_teacher_and_three_students(
    contexts: Callable[..., BrowserContext], screenshot: Callable[..., Path]
) -> None:
    teacher_ctx = contexts(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
    teacher = teacher_ctx.new_page()
    errors = _errors(teacher)
    teacher.goto("/classroom?present=1")
    teacher.click(".classroom-start button")
    code = teacher.locator("[data-join-code]").inner_text().strip()
    assert len(code) == 6
    expect(teacher.locator(".qr svg")).to_be_visible()

    nicknames = ["ana", "bo", "<script>window.pwned=1</script>"]
    students = [
        _join(contexts(viewport=PHONE, is_mobile=True, has_touch=True), code, nick)
        for nick in nicknames
    ]
    expect(teacher.locator("[data-live-count]")).to_contain_text("3 students", timeout=6000)

    teacher.select_option("select[name=kind]", "question")
    teacher.fill("input[name=seed]", str(SEED))
    teacher.fill("input[name=to]", TO)
    teacher.click("[data-action=push]")
    item = build_item("question", "seed", "iptables", SEED, "external", TO)
    right = item["answer"]
    wrong = next(o["value"] for o in item["options"] if o["value"] != right)

    choices = [right, right, wrong]
    for done, (student, choice) in enumerate(zip(students, choices, strict=True), start=1):
        option = student.locator(f"button.option[value='{choice}']")
        expect(option).to_be_visible(timeout=6000)  # arrives by polling
        option.click()
        expect(student.locator("[data-own]")).to_contain_text(choice)
        # the projected chart and table count the answer within a poll or two
        expect(teacher.locator("[data-live-count]")).to_contain_text(
            f"{done} answers", timeout=6000
        )
        expect(teacher.locator("#classroom-chart .main-svg").first).to_be_attached()
    expect(teacher.locator(f"td[data-count='{right}']")).to_have_text("2")
    assert teacher.locator("#classroom-chart").get_attribute("data-drawn") == "3"
    # before the reveal, no student sees the right answer or the others' answers
    for student in students:
        expect(student.locator("[data-answer]")).to_have_count(0)
        expect(student.locator("[data-classroom-figure]")).to_have_count(0)

    teacher.click("[data-action=reveal]")
    expect(teacher.locator("[data-answer]")).to_contain_text(right)
    for student, choice in zip(students, choices, strict=True):
        expect(student.locator("[data-answer]")).to_contain_text(right, timeout=6000)
        verdict = "you got it right" if choice == right else "not this time"
        expect(student.locator("[data-answer]")).to_contain_text(verdict)
    assert all(s.evaluate("window.pwned === undefined") for s in students)
    assert teacher.evaluate("window.pwned === undefined")
    expect(teacher.locator(".roster")).to_contain_text(nicknames[2])

    with teacher.expect_download() as download:
        teacher.click("[data-action=csv]")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted((r[1], r[2], r[3]) for r in rows[1:]) == sorted(
        (n, c, "yes" if c == right else "no") for n, c in zip(nicknames, choices, strict=True)
    )

    teacher.locator("#player").scroll_into_view_if_needed()
    teacher.evaluate("window.scrollTo(0, 0)")
    screenshot(teacher, "classroom-teacher")
    students[0].evaluate("window.scrollTo(0, 0)")
    screenshot(students[0], "classroom-student")
    assert errors == []


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"


def _serious(page: Page) -> list[object]:
    run_script(page, AXE)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (v["id"], [n["target"] for n in v["nodes"]][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations_in_a_revealed_question(
    contexts: Callable[..., BrowserContext], scheme: str
) -> None:
    teacher = contexts(color_scheme=scheme, viewport={"width": 1920, "height": 1080}).new_page()
    teacher.goto("/classroom?present=1&lang=zh")
    assert _serious(teacher) == []
    teacher.click(".classroom-start button")
    student = _join(
        contexts(color_scheme=scheme, viewport=PHONE),
        teacher.locator("[data-join-code]").inner_text().strip(),
        "小明",
    )
    teacher.click("[data-action=push]")
    student.locator("button.option").first.click()
    expect(student.locator("[data-own]")).to_be_visible()
    teacher.click("[data-action=reveal]")
    expect(student.locator("[data-answer]")).to_be_visible(timeout=6000)
    expect(teacher.locator("#classroom-chart .main-svg").first).to_be_attached()
    assert _serious(teacher) == []
    assert _serious(student) == []
