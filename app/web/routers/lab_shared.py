"""Share links: `/lab/shared/{token}` rebuilds a frozen recipe read-only (any visitor with the
link may look, nobody may change it), and "fork" copies it into a new lab of the visitor's
session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from app.sim.lab import Lab, LabError
from app.store.models import Lab as LabRow
from app.web.deps import EngineDep, LangDep, TranslatorDep
from app.web.labs import repo
from app.web.labs.identity import caller, remember
from app.web.labs.page import PageState, context
from app.web.labs.service import Opened
from app.web.templating import render

router = APIRouter(tags=["lab pages"], include_in_schema=False)


def _shared(engine: EngineDep, token: str) -> Opened | None:
    share = repo.shared(engine, token)
    if share is None:
        return None
    try:
        lab = Lab.from_recipe(share.recipe)
    except LabError:
        return None
    return Opened(LabRow(id=share.lab_id, token="", data={}, version=0), lab)


def _recipe_lines(commands: list[object]) -> list[str]:
    """The console lines that built the lab; a request from the form shows as a comment, with
    how many times in a row it was sent when the recipe counted repeats on one entry."""
    lines = []
    for command in commands:
        if isinstance(command, str):
            lines.append(command)
        elif isinstance(command, dict) and isinstance(command.get("request"), list):
            src, dst, proto, count, *_ = [*command["request"], None, None, None, None]
            times = command.get("times", 1)
            repeated = f" (sent {times} times)" if isinstance(times, int) and times > 1 else ""
            lines.append(f"# request {src} -> {dst} {proto} x{count}{repeated}")
    return lines


@router.get("/lab/shared/{token}", response_class=HTMLResponse)
def shared_page(
    request: Request, token: str, engine: EngineDep, lang: LangDep, t: TranslatorDep
) -> Response:
    """A shared lab, rebuilt from its frozen recipe, read-only until forked."""
    opened = _shared(engine, token)
    if opened is None:
        return render(request, "pages/not_found.html", status_code=404)
    lines = _recipe_lines(opened.lab.recipe().get("commands", []))
    ctx = context(
        opened, PageState(), lang, t, readonly=True, share_token=token, recipe_lines=lines
    )
    return render(request, "pages/lab.html", **ctx)


@router.get("/lab/shared/{token}/rules", response_class=HTMLResponse)
def shared_rules(
    request: Request,
    token: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    node: Annotated[str, Query(max_length=256)] = "",
    fmt: Annotated[str, Query(max_length=16)] = "tree",
) -> Response:
    opened = _shared(engine, token)
    if opened is None:
        return HTMLResponse(t("lab.error.not_found"), status_code=404)
    state = PageState(node=node or None, fmt=fmt)
    ctx = context(opened, state, lang, t, readonly=True, share_token=token)
    return render(request, "partials/lab_rules.html", **ctx)


@router.post("/lab/shared/{token}/fork")
def fork(request: Request, token: str, engine: EngineDep) -> Response:
    """Copy a shared lab into a new lab of this session, and open it."""
    opened = _shared(engine, token)
    if opened is None:
        return RedirectResponse("/lab", status_code=303)
    who = caller(request, create_session=True)
    repo.create(engine, opened.lab.to_data(), who.session)
    response = RedirectResponse("/lab", status_code=303)
    remember(response, who)
    return response
