"""The course pages: `/lessons` (the course map by track, with the learner's completion) and
`/lessons/{id}` (prose beside the lesson's own lab: the current step, a console whose every
command is followed by a check, the hint → goal → solution ladder, the recap, and the lab itself:
its cluster view, read-only, and the packet player replaying the console's last curl).

Progress is stored per session cookie (app/curriculum/progress.py). Every form works without
JavaScript (a 303 back to the page); with htmx the step panel and console update in place.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from app.curriculum import goals, markdown, progress
from app.curriculum.model import Course, Lesson, load_course
from app.web.deps import EngineDep, LangDep, TranslatorDep
from app.web.labs import repo, service
from app.web.labs.identity import caller, remember
from app.web.labs.page import PageState
from app.web.labs.page import context as lab_context
from app.web.templating import render

router = APIRouter(tags=["lessons"], include_in_schema=False)
COURSE: Course = load_course()
Command = Annotated[str, Form(max_length=262144)]
Choice = Annotated[int | None, Form()]


def _lesson(lesson_id: str) -> Lesson:
    lesson = COURSE.lessons.get(lesson_id)
    if lesson is None:
        raise HTTPException(status_code=404)
    return lesson


def _step_view(lesson: Lesson, place: progress.Place, lang: str) -> dict[str, Any]:
    """What the step panel shows: the instruction, the choice, the ladder's rungs reached."""
    row = place.progress
    step = progress.current(lesson, row)
    view: dict[str, Any] = {"index": row.step, "total": len(lesson.steps), "done": step is None}
    if step is None:
        return view | {"recap": lesson.recap[lang], "next": COURSE.next_of(lesson.id)}
    options = step.goal.get("options") or next(
        (g.get("options") for g in step.goal.get("goals", []) if g.get("kind") == "choice"), None
    )
    rung = row.rung
    return view | {
        "instruction": markdown.inline(step.instruction[lang]),
        "options": [markdown.inline(o[lang]) for o in options or []],
        "chosen": row.answers.get(str(row.step)),
        "hints": [markdown.inline(h[lang]) for h in step.hints[:rung]],
        "goal": goals.describe(step.goal, lang) if rung > len(step.hints) else "",
        "solution": [c.console_text() for c in step.solution] if rung > len(step.hints) + 1 else [],
        "can_climb": rung < len(step.hints) + 2,
        "rung": rung,
        "hint_count": len(step.hints),
    }


def _traces(extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The traces the console line just sent (curl), for the player; none for other lines."""
    result = (extra.get("entry") or {}).get("result")
    return list(getattr(result, "traces", None) or [])


def _context(
    lesson: Lesson, place: progress.Place, lang: str, t: Any, **extra: Any
) -> dict[str, Any]:
    track = next(tr for tr in COURSE.tracks if lesson.id in tr.lessons)
    # The same variables /lab's cluster and player partials read; read-only: the lesson's
    # console is the one way to change its lab, so every change is checked against the step.
    lab = lab_context(place.opened, PageState(traces=_traces(extra)), lang, t, readonly=True)
    return lab | {
        "lesson": lesson,
        "track": track,
        "prose": markdown.render(lesson.prose[lang]),
        "step": _step_view(lesson, place, lang),
        "lab_id": place.opened.row.id,
        "earlier": place.lab.console_history[place.progress.history_start :][-30:],
        **extra,
    }


def _finish(
    request: Request, lesson: Lesson, place: progress.Place, lang: str, t: Any, **extra: Any
):
    """htmx gets the fragment; a plain form post goes back to the page."""
    if request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/lessons/{lesson.id}", status_code=303)
    context = _context(lesson, place, lang, t, **extra)
    return render(request, "partials/lesson_update.html", **context)


@router.get("/lessons", response_class=HTMLResponse)
def course_map(request: Request, engine: EngineDep, lang: LangDep) -> Response:
    who = caller(request, create_session=True)
    rows = progress.all_for(engine, who.session)
    done = sum(1 for r in rows.values() if r.completed is not None)
    response = render(
        request, "pages/lessons.html", course=COURSE, rows=rows, done=done,
        total=len(COURSE.ordered()),
    )  # fmt: skip
    remember(response, who)
    return response


@router.get("/lessons/{lesson_id}", response_class=HTMLResponse)
def lesson_page(
    request: Request, lesson_id: str, engine: EngineDep, lang: LangDep, t: TranslatorDep
) -> Response:
    lesson = _lesson(lesson_id)
    who = caller(request, create_session=True)
    place = progress.open_place(engine, lesson, who)
    response = render(request, "pages/lessons_lesson.html", **_context(lesson, place, lang, t))
    remember(response, who)
    return response


def _place(request: Request, engine: Any, lesson: Lesson) -> progress.Place:
    who = caller(request)
    if who.session is None:
        raise HTTPException(status_code=404)
    return progress.open_place(engine, lesson, who)


@router.post("/lessons/{lesson_id}/run", response_class=HTMLResponse)
def run(
    request: Request,
    lesson_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    command: Command = "",
) -> Response:
    """A console line in the lesson's lab, then the automatic check of the current step."""
    lesson = _lesson(lesson_id)
    place = _place(request, engine, lesson)
    line = command.replace("\r\n", "\n").strip("\n")
    entry: dict[str, Any] = {"command": line}
    try:
        entry["result"] = progress.run(engine, place, line, lang) if line.strip() else None
    except service.LimitError as error:
        entry["error"] = t(error.key, **{k: str(v) for k, v in error.values.items()})
    except (service.RateLimited, repo.Conflict):
        entry["error"] = t("lessons.busy")
    passed = progress.advance(engine, lesson, place)
    return _finish(request, lesson, place, lang, t, entry=entry, passed=passed)


@router.post("/lessons/{lesson_id}/check", response_class=HTMLResponse)
def check(
    request: Request,
    lesson_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    answer: Choice = None,
) -> Response:
    """The check button (with the learner's choice on a concept step)."""
    lesson = _lesson(lesson_id)
    place = _place(request, engine, lesson)
    if answer is not None:
        progress.answer(engine, place, answer)
    passed = progress.advance(engine, lesson, place)
    return _finish(request, lesson, place, lang, t, passed=passed, checked=not passed)


@router.post("/lessons/{lesson_id}/hint", response_class=HTMLResponse)
def hint(
    request: Request, lesson_id: str, engine: EngineDep, lang: LangDep, t: TranslatorDep
) -> Response:
    lesson = _lesson(lesson_id)
    place = _place(request, engine, lesson)
    progress.climb(engine, lesson, place)
    return _finish(request, lesson, place, lang, t)


@router.post("/lessons/{lesson_id}/restart", response_class=HTMLResponse)
def restart(request: Request, lesson_id: str, engine: EngineDep) -> Response:
    lesson = _lesson(lesson_id)
    place = _place(request, engine, lesson)
    progress.start(engine, lesson, caller(request), place.progress)
    return RedirectResponse(f"/lessons/{lesson.id}", status_code=303)
