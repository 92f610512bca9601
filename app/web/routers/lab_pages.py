"""The /lab page and its htmx actions: console lines, the cluster's buttons, the toolbar (mode,
scenario, undo, reset, share), requests, the load chart, the import of a node's dump, and tab
completion. Each action goes through `app.web.labs.actions.perform` (version check, save,
out-of-band fragments). The rules editor is in `lab_rules.py`, share links in `lab_shared.py`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from app.sim.lab import LabError, complete
from app.sim.lab.shares import expected_shares
from app.web.charts import endpoint_distribution_figure, endpoint_table
from app.web.deps import EngineDep, LangDep, TranslatorDep
from app.web.labs import repo, service
from app.web.labs.actions import Short, Text, Version, console, perform
from app.web.labs.identity import caller, remember
from app.web.labs.page import PageState, context
from app.web.labs.service import Opened
from app.web.templating import render

router = APIRouter(tags=["lab pages"], include_in_schema=False)


@router.get("/lab", response_class=HTMLResponse)
def lab_page(request: Request, engine: EngineDep, lang: LangDep, t: TranslatorDep) -> Response:
    """The learner's lab: the session's latest, or a new one from the seed scenario."""
    who = caller(request, create_session=True)
    state = PageState()
    try:
        opened = service.open_latest(engine, who)
    except service.Unreadable:
        opened, state = None, PageState(info_notice=t("lab.error.unreadable_fresh"))
    if opened is None:
        opened = service.open_new(engine, who)
    response = render(request, "pages/lab.html", **context(opened, state, lang, t))
    service.keep(engine, opened)  # drawing the page only read the lab
    remember(response, who)
    return response


@router.post("/lab/{lab_id}/run", response_class=HTMLResponse)
def run(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    command: Text = "",
    version: Version = None,
) -> Response:
    """One console line (or a cluster button's kubectl command)."""
    line = command.replace("\r\n", "\n").strip("\n")
    entry: dict[str, object] = {}

    def action(opened: Opened) -> PageState:
        result, state = console(opened, line, lang)
        entry.update(result=result, command=line)
        return state

    extra = {"entry": entry, "refresh": True}
    return perform(request, engine, lab_id, version, lang, t, action, extra)


@router.post("/lab/{lab_id}/do", response_class=HTMLResponse)
def toolbar(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    op: Short = "",
    mode: Short = "",
    scenario: Short = "",
    version: Version = None,
) -> Response:
    """Undo, reset, share, or a new mode or scenario from the toolbar's selects."""
    flags: dict[str, object] = {"refresh": True, "refresh_player": True}

    def action(opened: Opened) -> PageState:
        lab = opened.lab
        try:
            if op == "undo":
                return PageState(info_notice=t("lab.undo.done" if lab.undo() else "lab.undo.none"))
            if op == "reset":
                lab.reset()
                return PageState(info_notice=t("lab.reset.done"))
            if op == "share":
                token = repo.share(request.app.state.engine, opened.row, lab.recipe())
                flags["share_url"] = f"{request.base_url}lab/shared/{token}"
                return PageState(info_notice=t("lab.share.done"))
            if scenario and scenario != lab.summary().get("scenario"):
                lab.set_scenario(scenario)
                return PageState(info_notice=t("lab.scenario.done", scenario=scenario))
            if mode and mode != lab.mode:
                lab.set_mode(mode)
                return PageState(info_notice=t("lab.mode.done", mode=mode))
        except LabError as error:
            return PageState(error_notice=error.text(lang))
        return PageState()

    return perform(request, engine, lab_id, version, lang, t, action, flags)


@router.post("/lab/{lab_id}/request", response_class=HTMLResponse)
def send_request(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    source: Short = "external",
    to: Short = "",
    proto: Short = "tcp",
    count: Annotated[int, Form()] = 1,
    node: Short = "",
    version: Version = None,
) -> Response:
    """Send packets from the form and hand the first trace to the player."""
    extra: dict[str, object] = {"refresh": True, "refresh_player": True}

    def action(opened: Opened) -> PageState:
        base = PageState(request_to=to, request_from=source, request_count=count, request_node=node)
        try:
            service.check_count(count)
            answer = opened.lab.request(source, to, proto, count, node=node or None)
        except service.LimitError as error:
            base.request_error = t(error.key, **{k: str(v) for k, v in error.values.items()})
            return base
        except LabError as error:
            base.request_error = error.text(lang)
            return base
        base.traces, base.endpoints = answer["traces"], answer["endpoints"]
        return base

    return perform(request, engine, lab_id, version, lang, t, action, extra)


@router.post("/lab/{lab_id}/import", response_class=HTMLResponse)
def import_dump(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    dump: Text = "",
    version: Version = None,
) -> Response:
    """A real node's iptables-save output becomes the rules of an imported node."""
    extra: dict[str, object] = {}

    def action(opened: Opened) -> PageState:
        size = len(dump.encode("utf-8", "surrogatepass"))
        if size > service.PASTE_LIMIT:
            raise service.LimitError("lab.limit.paste", limit=service.PASTE_LIMIT, size=size)
        result = opened.lab.import_dump(dump)
        if not result.ok:
            extra["form_error"] = {"id": "import-err", "message": result.error.strip()}
            return PageState()
        extra["refresh"] = True
        extra["refresh_player"] = True
        imported = [name for name, world in opened.lab.nodes.items() if world.imported]
        return PageState(
            info_notice=result.output.strip() or t("lab.import.done"),
            node=imported[-1] if imported else None,
            request_node=imported[-1] if imported else "",
        )

    return perform(request, engine, lab_id, version, lang, t, action, extra)


@router.get("/lab/{lab_id}/complete")
def complete_line(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    line: Annotated[str, Query(max_length=service.LINE_LIMIT)] = "",
) -> JSONResponse:
    """Tab completion: the candidates for the line typed so far."""
    try:
        with service.reading(engine, lab_id, caller(request)) as opened:
            completions = list(complete(opened.lab, line))[:50]
    except service.NotFound:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    except service.Unreadable:  # nothing to complete from: the page says how to start afresh
        return JSONResponse({"completions": []})
    return JSONResponse({"completions": completions})


@router.post("/lab/{lab_id}/load", response_class=HTMLResponse)
def send_load(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    source: Annotated[str, Form(alias="from", max_length=256)] = "external",
    to: Short = "",
    count: Annotated[int, Form()] = 1000,
    version: Version = None,
) -> Response:
    """Send up to 10,000 requests and chart where they went against the rules' shares."""
    extra: dict[str, object] = {}

    def action(opened: Opened) -> PageState:
        try:
            service.check_count(count)
            answer = opened.lab.request(source, to, "tcp", count)
            expected = expected_shares(opened.lab, source, to, "tcp")
        except service.LimitError as error:
            extra["load_error"] = t(error.key, **{k: str(v) for k, v in error.values.items()})
            return PageState()
        except LabError as error:
            extra["load_error"] = error.text(lang)
            return PageState()
        counts = dict(answer["endpoints"])
        if answer.get("failed"):
            counts[""] = sum(answer["failed"].values())  # the chart's "no endpoint" bar
        extra["figure"] = endpoint_distribution_figure(counts, expected, lang)
        extra["rows"] = endpoint_table(counts, expected, lang)
        return PageState(traces=answer["traces"][:1], node=answer["traces"][0].get("node"))

    return perform(
        request, engine, lab_id, version, lang, t, action, extra, template="partials/lab_load.html"
    )
