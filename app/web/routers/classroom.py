"""The live classroom: `/classroom` to start or join, the teacher's projected view and the
students' view, their polled fragments, and the teacher's actions (push, lock, reveal, end,
results CSV). Every request reads the session from the database, so any worker answers it."""

from __future__ import annotations

import csv
import io
from functools import cache
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session
from starlette.responses import Response

from app.sim.classroom import ItemError, build_item
from app.sim.lab import MODES, Lab
from app.sim.scenarios import SCENARIOS
from app.web.classroom import service, views
from app.web.classroom.service import ClassroomError
from app.web.deps import EngineDep, LangDep, TranslatorDep
from app.web.labs import views as lab_views
from app.web.templating import render

router = APIRouter()
TEACHER_COOKIE = "kpl_teacher"
STUDENT_COOKIE = "kpl_student"
Short = Annotated[str, Form(max_length=256)]
DEFAULT_TO = "svc/my-first-deploy:8080"

# What each route may answer, for the OpenAPI schema (/openapi.json): the pages are HTML, the
# actions redirect (303) to the page that shows their outcome, and a refusal is the page again
# with the reason in the learner's language.
_HTML = {"text/html": {}}
_MOVED = {"description": "Done: the page to go to is in Location"}
_REDIRECT = {303: _MOVED}
_BAD = {400: {"description": "Refused: a bad nickname, choice or packet", "content": _HTML}}
_FORBIDDEN = {403: {"description": "Not this session's teacher or student", "content": _HTML}}
_GONE = {404: {"description": "No live session with this code", "content": _HTML}}
_NO_QUESTION = {409: {"description": "No open question, or answers are locked", "content": _HTML}}
_FULL = {403: {"description": "The session has no room for more students", "content": _HTML}}
_UNCHANGED = {204: {"description": "Nothing changed since the version sent as `v`"}}


def _teacher_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(TEACHER_COOKIE)


def _refuse(request: Request, error: ClassroomError, t: TranslatorDep) -> Response:
    return render(
        request,
        "pages/classroom.html",
        status_code=error.status,
        error=t(error.key),
        code=request.query_params.get("code", ""),
        **_form_choices(),
    )


def _form_choices() -> dict[str, object]:
    return {
        "scenarios": list(SCENARIOS),
        "modes": list(MODES),
        "default_to": DEFAULT_TO,
        "targets": _targets(),
    }


@cache
def _targets() -> list[str]:
    """Every scenario's `svc/NAME:PORT` destinations, for the push form's suggestions."""
    found: dict[str, None] = {}
    for scenario in SCENARIOS:
        for target in lab_views.targets(Lab.new(scenario).summary()):
            if target.startswith("svc/"):
                found[target] = None
    return list(found)


@router.get("/classroom", response_class=HTMLResponse)
def landing(request: Request, code: Annotated[str, Query(max_length=16)] = "") -> Response:
    """Start a session (teacher) or join one with a code and a nickname (student)."""
    return render(request, "pages/classroom.html", code=code, **_form_choices())


@router.post(
    "/classroom/start",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {
            **_MOVED,
            "headers": {
                "X-Teacher-Token": {
                    "description": "The teacher's token, for scripts to send as Bearer",
                    "schema": {"type": "string"},
                }
            },
        }
    },
)
def start(request: Request, engine: EngineDep) -> Response:
    room, token = service.start(engine)
    response = RedirectResponse(f"/classroom/{room.code}/teach", status_code=303)
    response.set_cookie(
        TEACHER_COOKIE,
        token,
        path=f"/classroom/{room.code}",
        max_age=13 * 3600,
        httponly=True,
        samesite="lax",
    )
    response.headers["X-Teacher-Token"] = token  # for scripts, which then send it as Bearer
    return response


@router.post(
    "/classroom/join",
    status_code=303,
    response_class=RedirectResponse,
    responses={**_BAD, **_FULL, **_GONE},
)
def join(
    request: Request,
    engine: EngineDep,
    t: TranslatorDep,
    code: Annotated[str, Form(max_length=16)] = "",
    nickname: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        room, secret = service.join(engine, code, nickname)
    except ClassroomError as error:
        return render(
            request,
            "pages/classroom.html",
            status_code=error.status,
            error=t(error.key),
            code=code,
            nickname=nickname,
            **_form_choices(),
        )
    response = RedirectResponse(f"/classroom/{room.code}", status_code=303)
    response.set_cookie(
        STUDENT_COOKIE,
        secret,
        path=f"/classroom/{room.code}",
        max_age=13 * 3600,
        httponly=True,
        samesite="lax",
    )
    return response


def _student_context(session: Session, room, pupil, lang: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    item = service.current(session, room)
    own = service.own_answer(session, room, pupil)
    context: dict[str, object] = {
        "room": room,
        "item": item,
        "own": own,
        "pupil": pupil,
        "tag": views.student_tag(room, own),
    }
    if item is not None:
        context["trace_json"] = views.embed(item.data["trace"])
        if item.revealed:
            counts = service.tally(session, room, room.number)
            context["figure_json"] = views.embed(views.answers_figure(item, counts, lang))
    return context


@router.get("/classroom/{code}", response_class=HTMLResponse, responses={**_REDIRECT, **_GONE})
def student_page(
    request: Request, code: str, engine: EngineDep, lang: LangDep, t: TranslatorDep
) -> Response:
    with Session(engine) as session:
        try:
            room = service.find(session, code)
        except ClassroomError as error:
            return _refuse(request, error, t)
        pupil = service.student(session, room, request.cookies.get(STUDENT_COOKIE))
        if pupil is None:
            return RedirectResponse(f"/classroom?code={room.code}", status_code=303)
        return render(
            request, "pages/classroom_student.html", **_student_context(session, room, pupil, lang)
        )


@router.get(
    "/classroom/{code}/live",
    response_class=HTMLResponse,
    responses={**_UNCHANGED, 403: {"description": "Not a student of this session"}},
)
def student_live(
    request: Request,
    code: str,
    engine: EngineDep,
    lang: LangDep,
    v: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The student's panel, polled; 204 when nothing changed (htmx then keeps what it has)."""
    with Session(engine) as session:
        try:
            room = service.find(session, code)
        except ClassroomError:
            return render(request, "partials/classroom_ended.html", status_code=200)
        pupil = service.student(session, room, request.cookies.get(STUDENT_COOKIE))
        if pupil is None:
            return Response(status_code=403)
        own = service.own_answer(session, room, pupil)
        tag = views.student_tag(room, own)
        if v == tag:
            return Response(status_code=204, headers={"ETag": f'"{tag}"'})
        response = render(
            request,
            "partials/classroom_student_live.html",
            **_student_context(session, room, pupil, lang),
        )
        response.headers["ETag"] = f'"{tag}"'
        return response


@router.post(
    "/classroom/{code}/answer",
    response_class=HTMLResponse,
    responses={**_BAD, **_FORBIDDEN, **_GONE, **_NO_QUESTION},
)
def answer(
    request: Request,
    code: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    choice: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    with Session(engine) as session:
        try:
            room = service.find(session, code)
            pupil = service.student(session, room, request.cookies.get(STUDENT_COOKIE))
            if pupil is None:
                raise ClassroomError("classroom.error.not_student", 403)
            chosen = pupil
            service.retry_locked(session, lambda s: service.answer(s, room, chosen, choice))
        except ClassroomError as error:
            return HTMLResponse(
                f'<p class="form-error" role="alert">{_escape(t(error.key))}</p>',
                status_code=error.status,
            )
        return render(
            request,
            "partials/classroom_student_live.html",
            **_student_context(session, room, pupil, lang),
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _teacher_room(session: Session, request: Request, code: str):  # type: ignore[no-untyped-def]
    room = service.find(session, code)
    if not service.is_teacher(room, _teacher_token(request)):
        raise ClassroomError("classroom.error.not_teacher", 403)
    return room


def _teacher_context(session: Session, request: Request, room, lang: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    item = service.current(session, room)
    counts = service.tally(session, room, room.number) if item is not None else {}
    students = service.students(session, room)
    join_url = str(request.base_url).rstrip("/") + f"/classroom?code={room.code}"
    context: dict[str, object] = {
        "room": room,
        "item": item,
        "counts": counts,
        "students": students,
        "answers": sum(counts.values()),
        "join_url": join_url,
        "tag": views.teacher_tag(room, sum(counts.values()), len(students)),
    }
    if item is not None:
        context["trace_json"] = views.embed(item.data["trace"])
        if item.data.get("kind") == "question":
            context["figure_json"] = views.embed(views.answers_figure(item, counts, lang))
    return context


@router.get(
    "/classroom/{code}/teach", response_class=HTMLResponse, responses={**_FORBIDDEN, **_GONE}
)
def teacher_page(
    request: Request, code: str, engine: EngineDep, lang: LangDep, t: TranslatorDep
) -> Response:
    with Session(engine) as session:
        try:
            room = _teacher_room(session, request, code)
        except ClassroomError as error:
            return _refuse(request, error, t)
        context = _teacher_context(session, request, room, lang)
        context["qr"] = views.qr_svg(str(context["join_url"]))
        return render(request, "pages/classroom_teacher.html", **context, **_form_choices())


@router.get(
    "/classroom/{code}/teach/live",
    response_class=HTMLResponse,
    responses={
        **_UNCHANGED,
        403: {"description": "Not this session's teacher"},
        404: {"description": "No live session with this code"},
    },
)
def teacher_live(
    request: Request,
    code: str,
    engine: EngineDep,
    lang: LangDep,
    v: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    with Session(engine) as session:
        try:
            room = _teacher_room(session, request, code)
        except ClassroomError as error:
            return Response(status_code=error.status)
        context = _teacher_context(session, request, room, lang)
        if v == context["tag"]:
            return Response(status_code=204, headers={"ETag": f'"{context["tag"]}"'})
        response = render(request, "partials/classroom_teacher_live.html", **context)
        response.headers["ETag"] = f'"{context["tag"]}"'
        return response


@router.post(
    "/classroom/{code}/push",
    status_code=303,
    response_class=RedirectResponse,
    responses={**_BAD, **_FORBIDDEN, **_GONE},
)
def push(
    request: Request,
    code: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    kind: Short = "question",
    scenario: Short = "seed",
    mode: Short = "iptables",
    seed: Annotated[int, Form(ge=0, le=2**31)] = 1,
    source: Short = "external",
    to: Short = DEFAULT_TO,
) -> Response:
    """Push a packet to watch or a question to everyone; the engine computes it."""
    with Session(engine) as session:
        try:
            room = _teacher_room(session, request, code)
        except ClassroomError as error:
            return _refuse(request, error, t)
        try:
            data = build_item(kind, scenario, mode, seed, source, to)
        except ItemError as error:
            context = _teacher_context(session, request, room, lang)
            context["qr"] = views.qr_svg(str(context["join_url"]))
            return render(
                request,
                "pages/classroom_teacher.html",
                status_code=400,
                push_error=error.text(lang),
                **context,
                **_form_choices(),
            )
        service.push(session, room, data)
        return RedirectResponse(f"/classroom/{room.code}/teach", status_code=303)


def _flag(request: Request, code: str, engine, t, flag: str) -> Response:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        try:
            room = _teacher_room(session, request, code)
            service.set_flag(session, room, flag)
        except ClassroomError as error:
            return _refuse(request, error, t)
        target = "/classroom" if flag == "end" else f"/classroom/{room.code}/teach"
        return RedirectResponse(target, status_code=303)


@router.post(
    "/classroom/{code}/lock",
    status_code=303,
    response_class=RedirectResponse,
    responses={**_FORBIDDEN, **_GONE, **_NO_QUESTION},
)
def lock(request: Request, code: str, engine: EngineDep, t: TranslatorDep) -> Response:
    return _flag(request, code, engine, t, "lock")


@router.post(
    "/classroom/{code}/reveal",
    status_code=303,
    response_class=RedirectResponse,
    responses={**_FORBIDDEN, **_GONE, **_NO_QUESTION},
)
def reveal(request: Request, code: str, engine: EngineDep, t: TranslatorDep) -> Response:
    return _flag(request, code, engine, t, "reveal")


@router.post(
    "/classroom/{code}/end",
    status_code=303,
    response_class=RedirectResponse,
    responses={**_FORBIDDEN, **_GONE},
)
def end(request: Request, code: str, engine: EngineDep, t: TranslatorDep) -> Response:
    return _flag(request, code, engine, t, "end")


@router.get(
    "/classroom/{code}/results.csv",
    response_class=Response,
    responses={
        200: {"description": "Every answer, one row each", "content": {"text/csv": {}}},
        **_FORBIDDEN,
        **_GONE,
    },
)
def results(request: Request, code: str, engine: EngineDep, t: TranslatorDep) -> Response:
    """Every answer as CSV; a nickname that starts like a formula is quoted with a leading
    apostrophe so a spreadsheet does not run it (OWASP, CSV injection)."""
    with Session(engine) as session:
        try:
            room = _teacher_room(session, request, code)
        except ClassroomError as error:
            return _refuse(request, error, t)
        rows = service.results(session, room)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "nickname", "answer", "correct", "answered_at"])
    for row in rows:
        writer.writerow([row.number, _cell(row.nickname), row.choice, row.correct, row.at])
    headers = {"Content-Disposition": f'attachment; filename="classroom-{room.code}.csv"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
