"""/quiz: interview practice. A timed mock interview, drills by topic, a review of missed
questions (Leitner boxes), the learner's progress by topic; results are stored per learner
(the `kpl_session` cookie). Grading is app/curriculum/quiz's; this module only wires forms
to it and renders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from app.curriculum.quiz import practice
from app.curriculum.quiz.bank import TOPICS
from app.web import quiz_service as service
from app.web.deps import EngineDep, LangDep
from app.web.labs.identity import caller, remember
from app.web.quiz_charts import progress_figure, topic_totals
from app.web.templating import render

router = APIRouter(tags=["quiz"], include_in_schema=False)
COUNTS = (5, 10, 20)


@router.get("/quiz", response_class=HTMLResponse)
def quiz_home(request: Request, engine: EngineDep, lang: LangDep) -> Response:
    """Start a sitting; see the boxes and the progress chart."""
    who = caller(request, create_session=True)
    answers = service.history(engine, who.session)
    response = render(
        request,
        "pages/quiz.html",
        topics=TOPICS,
        counts=COUNTS,
        due=len(service.due_refs(engine, who.session)) if who.session else 0,
        boxes=service.boxes(engine, who.session),
        figure=progress_figure(answers, lang),
        answered=len(answers),
        totals=topic_totals(answers),
        notice=request.query_params.get("notice", "")[:20],
    )
    remember(response, who)
    return response


@router.post("/quiz/start")
def quiz_start(
    request: Request,
    engine: EngineDep,
    kind: Annotated[str, Form(max_length=16)] = "mock",
    count: Annotated[int, Form(ge=1, le=practice.MAX_QUESTIONS)] = 5,
    topic: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A new sitting, then to its page (303 so a reload does not start another)."""
    who = caller(request, create_session=True)
    if kind not in service.KINDS or (topic and topic not in (*TOPICS, practice.ENGINE)):
        return RedirectResponse("/quiz?notice=bad", status_code=303)
    run_id = service.start(engine, who.session or "", kind, count, topic or None)
    target = f"/quiz/run/{run_id}" if run_id else "/quiz?notice=none-due"
    response = RedirectResponse(target, status_code=303)
    remember(response, who)
    return response


def _shown(run_questions: list[str], lang: str, run_id: str) -> list[practice.Shown]:
    found = (practice.show(ref, lang, run_id) for ref in run_questions)
    return [s for s in found if s is not None]


@router.get("/quiz/run/{run_id}", response_class=HTMLResponse)
def quiz_run(request: Request, run_id: str, engine: EngineDep, lang: LangDep) -> Response:
    """The sitting's questions (with the timer), or its result once answered."""
    run = service.load(engine, caller(request).session, run_id)
    if run is None:
        return render(request, "pages/not_found.html", status_code=404)
    if run.result is not None:
        return _result(request, run, lang)
    return render(
        request,
        "pages/quiz_run.html",
        run=run,
        questions=_shown(run.questions, lang, run.id),
    )


@router.post("/quiz/run/{run_id}", response_class=HTMLResponse)
async def quiz_submit(request: Request, run_id: str, engine: EngineDep, lang: LangDep) -> Response:
    """Grade the sitting and show the score and a review of the mistakes."""
    run = service.load(engine, caller(request).session, run_id)
    if run is None:
        return render(request, "pages/not_found.html", status_code=404)
    form = await request.form()
    service.finish(engine, run, form, lang)
    return _result(request, run, lang)


def _result(request: Request, run: service.QuizRun, lang: str) -> Response:
    result = run.result or {}
    review = []
    for item in result.get("items", []):
        shown = practice.show(item["ref"], lang, run.id)
        if shown is None:
            continue
        verdict = practice.grade_ref(item["ref"], None, lang)
        review.append(
            {
                "shown": shown,
                "correct": item["correct"],
                "given": item.get("given", ""),
                "expected": verdict.expected,
                "explain": practice.explanation(item["ref"], lang),
            }
        )
    return render(request, "pages/quiz_result.html", run=run, result=result, review=review)
