"""The shape of every htmx action on /lab: open the stored lab, check the form's version,
act, save if the lab changed, and answer with out-of-band fragments
(`partials/lab_update.html`, or the template an action names) - leaving out the rules and
cluster panels when the action did not change them; the lab then goes back to the
process's cache (see cache.py). A stale version answers 409
"changed elsewhere, reload", too many actions 429, an input over a limit 422 — each with the
notice that explains it — and nothing is changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from starlette.responses import Response

from app.web.deps import Translator
from app.web.labs import repo, service, views
from app.web.labs.identity import caller
from app.web.labs.page import PageState, context
from app.web.labs.service import Opened
from app.web.templating import render

Text = Annotated[str, Form(max_length=service.PASTE_LIMIT)]
Short = Annotated[str, Form(max_length=256)]
Version = Annotated[int | None, Form()]
UPDATE = "partials/lab_update.html"


def answer(
    request: Request,
    opened: Opened,
    state: PageState,
    lang: str,
    t: Translator,
    status: int = 200,
    template: str = UPDATE,
    **flags: object,
) -> Response:
    """Render `template` (the out-of-band update by default) for the lab as it now is."""
    ctx = context(opened, state, lang, t, **flags)
    return render(request, template, status_code=status, **ctx)


def perform(
    request: Request,
    engine: Engine,
    lab_id: str,
    version: int | None,
    lang: str,
    t: Translator,
    action: Callable[[Opened], PageState],
    extra: dict[str, object],
    template: str = UPDATE,
) -> Response:
    """Open the lab, check the form's version, act, save; answer with the updated fragments."""
    try:
        opened = service.open_lab(engine, lab_id, caller(request))
    except service.NotFound:
        return HTMLResponse(t("lab.error.not_found"), status_code=404)
    except service.Unreadable:
        return HTMLResponse(t("lab.error.unreadable"), status_code=409)

    def refuse(status: int, notice: str, shown: Opened) -> Response:
        state = PageState(error_notice=notice, conflict=status == 409)
        # A conflict redraws the panels: the learner sees what the other writer saved.
        return answer(
            request, shown, state, lang, t, status=status, template=template, refresh=status == 409
        )

    if version is not None and version != opened.row.version:
        return refuse(409, t("lab.error.conflict"), opened)
    try:
        # The minute's budget as the row read says; the action is counted by the statement
        # that saves it, or on its own when nothing is saved (one commit either way).
        service.check_rate(opened)
        before = opened.lab.to_data()
        try:
            state = action(opened)
        except service.LimitError:
            service.rate(engine, opened)  # a refused action counts too
            raise
        after = opened.lab.to_data()
        unchanged(before, after, state)
        if after != before:
            repo.save(engine, opened.row, after, count=True)
        else:
            service.rate(engine, opened)
    except service.RateLimited as error:
        notice = t("lab.limit.rate", limit=str(service.COMMANDS_PER_MINUTE))
        response = refuse(429, notice, opened)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except service.LimitError as error:
        return refuse(422, t(error.key, **{k: str(v) for k, v in error.values.items()}), opened)
    except repo.Conflict:
        # Show what the other writer saved, not this request's unsaved change.
        return refuse(
            409, t("lab.error.conflict"), service.open_lab(engine, lab_id, caller(request))
        )
    response = answer(request, opened, state, lang, t, template=template, **extra)
    # The lab now equals its row again (saved, or unchanged) and the answer is rendered.
    service.keep(engine, opened)
    return response


def unchanged(before: dict[str, Any], after: dict[str, Any], state: PageState) -> None:
    """Mark the panels an action left exactly as drawn, from the lab's data around it.

    The rules panel draws one node's rules with their counters (all in "nodes"), chosen by the
    console's and the last request's node; the cluster panel draws the cluster and the mode.
    A trace always redraws the rules (its hits are highlighted), and so does a sync report
    (its chips). What stays is what the browser already shows, so the answer leaves it out:
    redrawing the rules was most of the time of a read-only console line."""
    same = {
        key
        for key in ("nodes", "shell_node", "last_node", "mode", "cluster", "scenario")
        if before.get(key) == after.get(key)
    }
    state.rules_kept = (
        {"nodes", "shell_node", "last_node", "mode"} <= same
        and not state.traces
        and not views.sync_changes(state.sync)
    )
    state.cluster_kept = {"cluster", "mode", "scenario"} <= same


def console(opened: Opened, line: str, lang: str) -> tuple[object, PageState]:
    """Run a console line (LimitError past 4 KiB a line or 256 KiB in all); the result and
    what the answer should show: its traces for the player, kube-proxy's sync report."""
    service.check_command(line)
    result = opened.lab.run(line, lang)
    state = PageState(traces=list(result.traces or []), sync=result.sync)
    if result.traces:
        state.endpoints = {}
        for trace in result.traces:
            if trace.get("endpoint"):
                state.endpoints[trace["endpoint"]] = state.endpoints.get(trace["endpoint"], 0) + 1
    return result, state
