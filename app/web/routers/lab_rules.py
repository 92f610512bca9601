"""The rules editor of /lab: delete, insert, append or replace a rule and set a policy, each
by running the real iptables command (so errors are iptables' own, shown under the form), and
the rules panel as a tree or as iptables-save / -L -n -v / -S for a chosen node.
"""

from __future__ import annotations

import shlex
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app.web.deps import EngineDep, LangDep, TranslatorDep
from app.web.labs import service
from app.web.labs.actions import Short, Version, console, perform
from app.web.labs.identity import caller
from app.web.labs.page import PageState, context
from app.web.labs.service import Opened
from app.web.templating import render

router = APIRouter(tags=["lab pages"], include_in_schema=False)


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
            result, state = console(opened, line, lang)
        finally:
            lab.shell_node = previous
        state.node, state.open_chain = node, (table, chain)
        extra["entry"] = {"result": result, "command": line}
        if not result.ok:
            extra["form_error"] = {"id": error_id, "message": result.error.strip()}
        else:
            extra["refresh"] = True
        return state

    return perform(request, engine, lab_id, version, lang, t, action, extra)


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
        with service.reading(engine, lab_id, caller(request)) as opened:
            ctx = context(opened, PageState(node=node or None, fmt=fmt), lang, t)
            response = render(request, "partials/lab_rules.html", **ctx)
    except service.NotFound:
        return HTMLResponse(t("lab.error.not_found"), status_code=404)
    except service.Unreadable:
        return HTMLResponse(t("lab.error.unreadable"), status_code=409)
    return response
