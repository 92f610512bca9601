""" "Explain this rule" and live validation for the /lab rules editor.

`GET /lab/{id}/rules/explain?table=&chain=&n=&node=` returns a small partial that explains each
option of one rule (built by `app.sim.netfilter.describe`, loaded only when the learner opens
it, so a 5,000-rule view stays light); `GET /lab/{id}/rules/validate` runs the rule being typed
against a scratch copy of the chain and answers with iptables' own refusal or the line
iptables-save would print. Shared (read-only) labs can be explained too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from app.sim.lab import Lab, LabError
from app.sim.netfilter.describe import check_spec, describe_rule
from app.web.deps import EngineDep, TranslatorDep
from app.web.labs import service
from app.web.labs.identity import caller
from app.web.routers.lab_shared import _shared
from app.web.templating import render

router = APIRouter(tags=["lab pages"], include_in_schema=False)

Name = Annotated[str, Query(max_length=256)]
SPEC_LIMIT = 4096


@contextmanager
def _lab(request: Request, engine: EngineDep, lab_id: str) -> Iterator[Lab | None]:
    """The learner's lab for one read (None if not theirs or unreadable); back to the cache
    afterwards, as these views never change it (validation runs on a scratch copy)."""
    try:
        opened = service.open_lab(engine, lab_id, caller(request))
    except (service.NotFound, service.Unreadable):
        yield None
        return
    yield opened.lab
    service.keep(engine, opened)


def _explain(request: Request, lab: Lab | None, t: TranslatorDep, where: dict) -> Response:
    """The explanation partial for rule `n` of `table`/`chain` on `node`, or a 404 note."""
    try:
        ruleset = lab.ruleset(where["node"] or None) if lab else None
    except LabError:
        ruleset = None
    table = ruleset.tables.get(where["table"]) if ruleset else None
    chain = table.chains.get(where["chain"]) if table else None
    n = where["n"]
    if chain is None or not 1 <= n <= len(chain.rules):
        return HTMLResponse(f'<p class="hint">{t("explain.gone")}</p>', status_code=404)
    items = describe_rule(chain.rules[n - 1], chain.name, table.name)  # type: ignore[union-attr]
    return render(request, "partials/lab_explain.html", items=items, n=n, chain=chain.name)


@router.get("/lab/{lab_id}/rules/explain", response_class=HTMLResponse)
def explain_rule(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    t: TranslatorDep,
    table: Name = "",
    chain: Name = "",
    n: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    node: Name = "",
) -> Response:
    """Explain one rule of the learner's own lab, option by option."""
    where = {"table": table, "chain": chain, "n": n, "node": node}
    with _lab(request, engine, lab_id) as lab:
        return _explain(request, lab, t, where)


@router.get("/lab/shared/{token}/rules/explain", response_class=HTMLResponse)
def explain_shared_rule(
    request: Request,
    token: str,
    engine: EngineDep,
    t: TranslatorDep,
    table: Name = "",
    chain: Name = "",
    n: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    node: Name = "",
) -> Response:
    """Explain one rule of a shared (read-only) lab."""
    opened = _shared(engine, token)
    where = {"table": table, "chain": chain, "n": n, "node": node}
    return _explain(request, opened.lab if opened else None, t, where)


@router.get("/lab/{lab_id}/rules/validate", response_class=HTMLResponse)
def validate_rule(
    request: Request,
    lab_id: str,
    engine: EngineDep,
    t: TranslatorDep,
    op: Name = "insert",
    table: Name = "nat",
    chain: Name = "",
    number: Annotated[int, Query(ge=0, le=1_000_000)] = 1,
    spec: Annotated[str, Query(max_length=SPEC_LIMIT)] = "",
    node: Name = "",
) -> Response:
    """Check the rule being typed; `X-Rule-Invalid` tells the input its aria-invalid state."""
    spec = spec.replace("\n", " ").strip()
    with _lab(request, engine, lab_id) as lab:
        if lab is None:
            return HTMLResponse(t("lab.error.not_found"), status_code=404)
        if op == "policy" or not spec:
            return HTMLResponse("", headers={"X-Rule-Invalid": "false"})
        try:
            ruleset = lab.ruleset(node or None)
        except LabError:
            return HTMLResponse(t("lab.error.not_found"), status_code=404)
        check = check_spec(ruleset, table, chain, op, spec, number)
    response = render(request, "partials/lab_validate.html", check=check)
    response.headers["X-Rule-Invalid"] = "false" if check.ok else "true"
    return response
