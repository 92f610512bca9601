"""The /lab page and its htmx actions: console lines, the cluster's buttons, the toolbar (mode,
scenario, undo, reset, share), the rules editor, requests and the import of a node's dump.

Every action answers with out-of-band fragments (`partials/lab_update.html`): the lab's new
version, the notice, and the panels the action changed. A form that carries a stale `version`
answers 409 "changed elsewhere, reload" and changes nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.responses import Response

from app.sim.lab import LabError, complete
from app.store.models import Lab as LabRow
from app.web.charts import endpoint_distribution_figure, endpoint_table
from app.web.deps import EngineDep, LangDep, TranslatorDep
from app.web.labs import repo, service
from app.web.labs.identity import caller, remember
from app.web.labs.page import PageState, context
from app.web.labs.service import Opened
from app.web.labs.shares import expected_shares
from app.web.templating import render

router = APIRouter(tags=["lab pages"], include_in_schema=False)
Text = Annotated[str, Form(max_length=service.PASTE_LIMIT)]
Short = Annotated[str, Form(max_length=256)]
Version = Annotated[int | None, Form()]


@router.get("/lab", response_class=HTMLResponse)
def lab_page(request: Request, engine: EngineDep, lang: LangDep, t: TranslatorDep) -> Response:
    """The learner's lab: the session's latest, or a new one from the seed scenario."""
    who = caller(request, create_session=True)
    row = repo.latest_for(engine, who.session)
    if row is None:
        row, _token = service.new_lab(engine, "seed", "iptables", who)
    opened = Opened(row, service.Lab.from_data(row.data))
    response = render(request, "pages/lab.html", **context(opened, PageState(), lang, t))
    remember(response, who)
    return response


def _update(
    request: Request,
    opened: Opened,
    state: PageState,
    lang: str,
    t: TranslatorDep,
    status: int = 200,
    template: str = "partials/lab_update.html",
    **flags: object,
) -> Response:
    ctx = context(opened, state, lang, t, **flags)
    return render(request, template, status_code=status, **ctx)


def _perform(
    request: Request,
    engine: EngineDep,
    lab_id: str,
    version: int | None,
    lang: str,
    t: TranslatorDep,
    action: Callable[[Opened], PageState],
    extra: dict[str, object],
    template: str = "partials/lab_update.html",
) -> Response:
    """Open the lab, check the form's version, act, save; answer with the updated fragments."""
    try:
        opened = service.open_lab(engine, lab_id, caller(request))
    except service.NotFound:
        return HTMLResponse(t("lab.error.not_found"), status_code=404)
    if version is not None and version != opened.row.version:
        state = PageState(error_notice=t("lab.error.conflict"), conflict=True)
        return _update(request, opened, state, lang, t, status=409, template=template)
    try:
        service.rate(engine, opened)
        before = opened.lab.to_data()
        state = action(opened)
        after = opened.lab.to_data()
        if after != before:
            repo.save(engine, opened.row, after)
    except service.RateLimited as error:
        state = PageState(error_notice=t("lab.limit.rate", limit=str(service.COMMANDS_PER_MINUTE)))
        response = _update(request, opened, state, lang, t, status=429, template=template)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except service.LimitError as error:
        state = PageState(error_notice=t(error.key, **{k: str(v) for k, v in error.values.items()}))
        return _update(request, opened, state, lang, t, status=422, template=template)
    except repo.Conflict:
        state = PageState(error_notice=t("lab.error.conflict"), conflict=True)
        return _update(request, opened, state, lang, t, status=409, template=template)
    return _update(request, opened, state, lang, t, template=template, **extra)


def _console(opened: Opened, line: str, lang: str) -> tuple[object, PageState]:
    service.check_command(line)
    result = opened.lab.run(line, lang)
    state = PageState(traces=list(result.traces or []), sync=result.sync)
    if result.traces:
        state.endpoints = {}
        for trace in result.traces:
            if trace.get("endpoint"):
                state.endpoints[trace["endpoint"]] = state.endpoints.get(trace["endpoint"], 0) + 1
    return result, state


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
        result, state = _console(opened, line, lang)
        entry.update(result=result, command=line)
        return state

    extra = {"entry": entry, "refresh": True}
    return _perform(request, engine, lab_id, version, lang, t, action, extra)


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

    return _perform(request, engine, lab_id, version, lang, t, action, flags)


def _rule_command(op: str, table: str, chain: str, number: int, spec: str) -> str:
    """The iptables command an editor form stands for (the learner's spec kept as typed)."""
    head = f"iptables -t {shlex.quote(table)}"
    chain_q = shlex.quote(chain)
    return {
        "delete": f"{head} -D {chain_q} {number}",
        "insert": f"{head} -I {chain_q} {number} {spec}",
        "append": f"{head} -A {chain_q} {spec}",
        "replace": f"{head} -R {chain_q} {number} {spec}",
        "policy": f"{head} -P {chain_q} {spec}",
    }.get(op, "")


@router.post("/lab/{lab_id}/rules", response_class=HTMLResponse)
def edit_rules(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    op: Short = "",
    table: Short = "nat",
    chain: Short = "",
    number: Annotated[int, Form()] = 1,
    spec: Annotated[str, Form(max_length=service.LINE_LIMIT)] = "",
    node: Short = "",
    error_id: Short = "",
    version: Version = None,
) -> Response:
    """Delete, insert, append or replace a rule, or set a policy, with a real iptables command."""
    line = _rule_command(op, table, chain, number, spec.replace("\n", " ").strip())
    extra: dict[str, object] = {}

    def action(opened: Opened) -> PageState:
        lab = opened.lab
        if not line:
            extra["form_error"] = {"id": error_id, "message": t("lab.rules.bad_op")}
            return PageState(node=node)
        previous = lab.shell_node
        lab.shell_node = node if node in lab.nodes else previous
        try:
            result, state = _console(opened, line, lang)
        finally:
            lab.shell_node = previous
        state.node = node
        extra["entry"] = {"result": result, "command": line}
        if not result.ok:
            extra["form_error"] = {"id": error_id, "message": result.error.strip()}
        else:
            extra["refresh"] = True
        return state

    return _perform(request, engine, lab_id, version, lang, t, action, extra)


@router.get("/lab/{lab_id}/rules", response_class=HTMLResponse)
def show_rules(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    lang: LangDep,
    t: TranslatorDep,
    node: Annotated[str, Query(max_length=256)] = "",
    fmt: Annotated[str, Query(max_length=16)] = "tree",
) -> Response:
    """The rules panel for a node, as a tree or as one of iptables' own listings."""
    try:
        opened = service.open_lab(engine, lab_id, caller(request))
    except service.NotFound:
        return HTMLResponse(t("lab.error.not_found"), status_code=404)
    ctx = context(opened, PageState(node=node or None, fmt=fmt), lang, t)
    return render(request, "partials/lab_rules.html", **ctx)


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

    return _perform(request, engine, lab_id, version, lang, t, action, extra)


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

    return _perform(request, engine, lab_id, version, lang, t, action, extra)


@router.get("/lab/{lab_id}/complete")
def complete_line(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    line: Annotated[str, Query(max_length=service.LINE_LIMIT)] = "",
) -> JSONResponse:
    """Tab completion: the candidates for the line typed so far."""
    try:
        opened = service.open_lab(engine, lab_id, caller(request))
    except service.NotFound:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    return JSONResponse({"completions": list(complete(opened.lab, line))[:50]})


def _shared(engine: EngineDep, token: str) -> Opened | None:
    share = repo.shared(engine, token)
    if share is None:
        return None
    try:
        lab = service.Lab.from_recipe(share.recipe)
    except LabError:
        return None
    return Opened(LabRow(id=share.lab_id, token="", data={}, version=0), lab)


@router.get("/lab/shared/{token}", response_class=HTMLResponse)
def shared_page(
    request: Request, token: str, engine: EngineDep, lang: LangDep, t: TranslatorDep
) -> Response:
    """A shared lab, rebuilt from its frozen recipe, read-only until forked."""
    opened = _shared(engine, token)
    if opened is None:
        return render(request, "pages/not_found.html", status_code=404)
    ctx = context(opened, PageState(), lang, t, readonly=True, share_token=token)
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

    return _perform(
        request, engine, lab_id, version, lang, t, action, extra, template="partials/lab_load.html"
    )
