"""/compare: one request traced in each kube-proxy mode, side by side, and how the modes
scale (app.sim.compare); `/api/compare` answers the same data as JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.sim.compare import MODE_ORDER, compare_modes, scale_study
from app.sim.lab.result import LabError
from app.sim.scenarios import SCENARIOS
from app.web.compare_charts import rows, scale_figure
from app.web.templating import render

router = APIRouter(tags=["compare"])
MAX_TEXT = 200  # src/dst longer than this are not a pod, node or Service name


def _inputs(request: Request) -> tuple[dict[str, Any], str | None]:
    """scenario, seed, src, dst and replay from the query, or an error message key."""
    q = request.query_params
    scenario = q.get("scenario") or "seed"
    if scenario not in SCENARIOS:
        return {"scenario": "seed", "seed": 1}, "compare.error.scenario"
    try:
        seed = int(q.get("seed") or 1)
    except ValueError:
        return {"scenario": scenario, "seed": 1}, "compare.error.seed"
    src, dst = (q.get("src") or "").strip(), (q.get("dst") or "").strip()
    if len(src) > MAX_TEXT or len(dst) > MAX_TEXT:
        return {"scenario": scenario, "seed": seed}, "compare.error.request"
    replay = q.get("replay") if q.get("replay") in MODE_ORDER else None
    return {"scenario": scenario, "seed": seed, "src": src, "dst": dst, "replay": replay}, None


def _compare(inputs: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    src, dst = inputs.get("src") or None, inputs.get("dst") or None
    try:
        data = compare_modes(inputs["scenario"], inputs["seed"], src, dst)
    except LabError as err:
        return None, err.messages
    return data, None


@router.get("/compare", response_class=HTMLResponse, include_in_schema=False)
def compare_page(request: Request) -> Response:
    """Four columns (one per mode) for one request, and the scale charts."""
    inputs, error_key = _inputs(request)
    data, error = (None, None) if error_key else _compare(inputs)
    lang = request.state.lang
    study = scale_study()
    replay = None
    if data and inputs.get("replay"):
        replay = next(m for m in data["modes"] if m["mode"] == inputs["replay"])
    return render(
        request,
        "pages/compare.html",
        status_code=400 if error_key or error else 200,
        inputs=inputs,
        data=data,
        error=error[lang] if error else None,
        error_key=error_key,
        replay=replay,
        scenarios=[(s.id, s.title[lang]) for s in SCENARIOS.values()],
        figures=[scale_figure(study, m, lang) for m in ("rules_evaluated", "rules_rewritten")],
        rows=rows(study),
        modes=MODE_ORDER,
    )


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": kind}, "description": description}


# The query is read by `_inputs` (shared with the page); documented here for the API's schema.
COMPARE_QUERY = [
    _query("scenario", "string", "A scenario id (default `seed`)"),
    _query("seed", "integer", "The random seed (default 1)"),
    _query("src", "string", "Where the request comes from, e.g. `pod/client`"),
    _query("dst", "string", "Where it goes, e.g. `svc/my-first-deploy:8080`"),
    _query("replay", "string", "A mode whose walk to show step by step"),
]


@router.get(
    "/api/compare",
    openapi_extra={"parameters": COMPARE_QUERY},
    responses={
        400: {
            "description": "An unknown scenario, a seed that is not a number, or a "
            "request the modes cannot trace"
        }
    },
)
def compare_api(request: Request) -> Response:
    """The side-by-side data: per mode the trace, steps, rules evaluated, decision."""
    inputs, error_key = _inputs(request)
    if error_key:
        return JSONResponse({"error": error_key}, status_code=400)
    data, error = _compare(inputs)
    if error:
        return JSONResponse({"error": error}, status_code=400)
    return JSONResponse(data)


@router.get("/api/compare/scale")
def scale_api() -> dict[str, Any]:
    """Rules evaluated per new connection and rewritten per endpoint change, per size."""
    return scale_study()
