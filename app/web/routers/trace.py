"""`/trace`: the trace viewer. Paste an iptables-save dump (from a real node, say) and a
packet; the packet player replays the engine's trace of it.

GET shows the form filled with an example (the `seed` scenario's node1 and a pod's request
to its ClusterIP) and that example's trace. POST (htmx, or a plain form post without
JavaScript) answers the form again with each error under its field, or with the new trace.
The body is read with a bound, so an oversized paste gets a clear message, never a 500.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app.web.charts import endpoint_distribution_figure, endpoint_table
from app.web.i18n import translate
from app.web.templating import render
from app.web.trace_form import DEFAULTS, RULESET_LIMIT, Outcome, run
from app.web.trace_load import send

router = APIRouter(tags=["pages"], include_in_schema=False)
#: Percent-encoding can triple a paste: beyond this the body is not read at all.
BODY_LIMIT = 3 * RULESET_LIMIT + 16 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
#: The label of each field whose i18n key is not `trace.field.<name>`.
_LABELS = {
    "ruleset": "trace.ruleset",
    "packet": "trace.packet",
    "origin": "trace.origin",
    "proto": "trace.proto",
    "count": "loadchart.count",
}


@lru_cache(maxsize=1)
def example() -> dict[str, str]:
    """The form's example: node1 of the `seed` scenario, a pod asking the Service."""
    from app.sim.cluster import request as cluster_request
    from app.sim.kubeproxy.iptables import render_restore
    from app.sim.kubeproxy.save import render_save
    from app.sim.kubeproxy.state import ProxyState
    from app.sim.scenarios import build

    cluster = build("seed", 0)
    pod = sorted(name for _, name in cluster.pods)[0]
    asked = cluster_request(cluster, f"pod/{pod}", "svc/my-first-deploy:8080")
    state = ProxyState.from_dict(cluster.to_proxy_dict(asked.node))
    fields = {k: _field_text(asked.packet.get(k, v)) for k, v in DEFAULTS.items()}
    return {**fields, "ruleset": render_save(state, render_restore(state))}


def _field_text(value: Any) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


async def _read_form(request: Request) -> dict[str, str] | None:
    """The submitted fields, or None when the body is larger than the page accepts."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_LIMIT:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            return None
    pairs = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in pairs.items()}


def _answer(request: Request, outcome: Outcome) -> Response:
    htmx = "hx-request" in request.headers
    status = 200 if htmx or not outcome.errors else 422
    name = "partials/trace_workspace.html" if htmx else "pages/trace.html"
    response = render(request, name, status_code=status, form=outcome)
    if htmx:  # bring what changed into view: the first error, or the new replay
        shown = "#trace-form" if outcome.errors else "#player"
        response.headers["HX-Reswap"] = f"outerHTML show:{shown}:top"
    return response


@router.get("/trace", response_class=HTMLResponse)
async def trace_page(request: Request) -> Response:
    """The viewer with the example filled in and already traced."""
    outcome = await run_in_threadpool(run, example(), request.state.lang)
    return render(request, "pages/trace.html", form=outcome)


@router.post("/trace", response_class=HTMLResponse)
async def trace_submit(request: Request) -> Response:
    """Trace the submitted dump and packet; errors go under their fields."""
    lang = request.state.lang
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields = await _read_form(request) if kind == FORM_TYPE else {}
    if fields is None:
        outcome = Outcome(dict(DEFAULTS))
        limit = str(RULESET_LIMIT // 1024)
        outcome.errors["ruleset"] = translate(lang, "trace.error.body_too_large", limit=limit)
        outcome.values["ruleset"] = ""
        return _answer(request, outcome)
    outcome = await run_in_threadpool(run, fields, lang)
    return _answer(request, outcome)


@router.post("/trace/load", response_class=HTMLResponse)
async def trace_load(request: Request) -> Response:
    """Send the form's packet `count` times (new connections, one seeded random stream) and
    answer the load chart: observed shares against the branches' probabilities."""
    lang = request.state.lang
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields = await _read_form(request) if kind == FORM_TYPE else {}
    if fields is None:
        limit = str(RULESET_LIMIT // 1024)
        error = translate(lang, "trace.error.body_too_large", limit=limit)
        return render(request, "partials/loadchart_result.html", load_error=error)
    load = await run_in_threadpool(send, fields, lang)
    if load.outcome.errors:
        name, message = next(iter(load.outcome.errors.items()))
        error = f"{translate(lang, _LABELS.get(name, f'trace.field.{name}'))}: {message}"
        return render(request, "partials/loadchart_result.html", load_error=error)
    figure = endpoint_distribution_figure(load.endpoints, load.expected, lang)
    rows = endpoint_table(load.endpoints, load.expected, lang)
    return render(request, "partials/loadchart_result.html", figure=figure, rows=rows)
