"""The template context of the /lab page and of each htmx update, built from one opened lab.

`PageState` carries what one answer shows beyond the lab itself (the last traces, kube-proxy's
sync report, the rules view's node and format, a notice); `context` turns both into the
variables the `lab_*` partials read. The rules panel is drawn by a function the template calls
(`rules_panel`), so an answer that leaves it out never builds its variables, and the plain
panel of one lab version is drawn once per process (panels.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from app.config import ROOT
from app.sim.lab import Lab
from app.sim.lab.modes import MODES
from app.sim.scenarios import SCENARIOS
from app.web.labs import views
from app.web.labs.panels import CHAINS, PANELS
from app.web.labs.service import Opened

PLAYER_TEMPLATE = ROOT / "templates" / "partials" / "player.html"
PLAYER_ASSETS = {"css": ("css/player.css",), "js": ("js/player.js", "js/loadchart.js")}
LOADCHART_TEMPLATE = ROOT / "templates" / "partials" / "loadchart.html"
HISTORY_SHOWN = 200  # console lines ↑ can recall after a reload
SMALL_RULESET = 60  # rules: under this, every chain with rules starts open


@dataclass
class PageState:
    traces: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, int] = field(default_factory=dict)
    sync: dict[str, Any] | None = None
    node: str | None = None
    fmt: str = "tree"
    error_notice: str = ""
    conflict: bool = False
    info_notice: str = ""
    request_error: str = ""
    request_to: str = ""
    request_from: str = ""
    request_count: int = 1
    request_node: str = ""
    open_chain: tuple[str, str] | None = None  # the chain an edit just changed stays open
    # The action left the rules panel (or the cluster panel) exactly as the browser shows it:
    # an htmx answer leaves that panel out instead of drawing it again (see actions.unchanged).
    rules_kept: bool = False
    cluster_kept: bool = False


def _assets(kind: str) -> list[str]:
    return [p for p in PLAYER_ASSETS[kind] if (ROOT / "static" / p).exists()]


def _embed(data: Any) -> str:
    # A JSON data block, not a script: "<" escaped so "</script>" in a rule comment cannot end it.
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _rules_node(lab: Lab, state: PageState) -> str:
    if state.node in lab.nodes:
        return str(state.node)
    if state.traces and state.traces[0].get("node") in lab.nodes:
        return str(state.traces[0]["node"])
    return str(lab.shell_world().name)


def rules_context(lab: Lab, state: PageState, lang: str, t: Any) -> dict[str, Any]:
    node = _rules_node(lab, state)
    ruleset = lab.ruleset(node)
    tree = views.rules_tree(ruleset, views.hits(state.traces))
    formats = [("tree", t("lab.rules.tree")), *views.SHORT_FORMATS.items()]
    fmt = state.fmt if state.fmt in views.RULE_FORMATS else "tree"
    total = sum(len(c["rules"]) for table in tree for c in table["chains"])
    return {
        "rule_nodes": list(lab.nodes),
        "rules_node": node,
        "rule_formats": formats,
        "rules_fmt": fmt,
        "rules_command": views.RULE_FORMATS.get(fmt, ""),
        "rules_text": lab.rules(node, fmt) if fmt != "tree" else "",
        "rules_tree": tree,
        "changed": views.changed_chains(state.sync),
        "hit_count": sum(
            1 for table in tree for c in table["chains"] for r in c["rules"] if r["hit"]
        ),
        "small": total < SMALL_RULESET,
        "open_chain": state.open_chain,
        "mode_views": _mode_views(lab, node),
        "chain_block": chain_block,
    }


@pass_context
def chain_block(ctx: Context, table: dict[str, Any], chain: dict[str, Any], cid: str) -> Markup:
    """One chain of the rules panel, drawn once for as long as all it shows stays the same:
    a packet moves the counters of the chains it went through and leaves the HTML of the
    others (most of a panel) as it was. The key is everything the chain's HTML is made of."""
    where = (table["name"], chain["name"])
    key = (
        ctx.get("lang"),
        bool(ctx.get("readonly")),
        ctx.get("share_token"),
        ctx.get("lab_id"),
        ctx.get("rules_node"),
        where,
        cid,
        chain["policy"],
        chain["hit"],
        where in ctx.get("changed", ()),
        where == ctx.get("open_chain"),
        bool(ctx.get("small")) and chain["name"] == "KUBE-SERVICES",
        tuple((r["number"], r["packets"], r["bytes"], r["spec"], r["hit"]) for r in chain["rules"]),
    )
    html = CHAINS.get(key)
    if html is None:
        values = {**ctx.get_all(), "table": table, "chain": chain, "cid": cid}
        html = ctx.environment.get_template("partials/lab_rules_chain.html").render(values)
        CHAINS.put(key, html)
    return Markup(html)


def rules_panel(opened: Opened, state: PageState, lang: str, t: Any) -> Callable[..., Markup]:
    """The rules panel as the templates call it (`rules_panel(oob)`): its variables are built
    only when it is drawn, and the plain panel of a lab version is drawn once (panels.py)."""
    plain = not state.traces and not views.sync_changes(state.sync) and state.open_chain is None

    @pass_context
    def draw(ctx: Context, oob: bool = False) -> Markup:
        key = None
        if plain and not oob and not ctx.get("readonly"):
            fmt = state.fmt if state.fmt in views.RULE_FORMATS else "tree"
            node = _rules_node(opened.lab, state)
            key = (opened.row.id, opened.row.version, lang, node, fmt)
            html = PANELS.get(key)
            if html is not None:
                return Markup(html)
        values = {**ctx.get_all(), **rules_context(opened.lab, state, lang, t), "oob": oob}
        html = ctx.environment.get_template("partials/lab_rules_panel.html").render(values)
        if key is not None:
            PANELS.put(key, html)
        return Markup(html)

    return draw


def _mode_views(lab: Lab, node: str) -> list[tuple[str, str]]:
    """The mode's own state on the node (IPVS: ipvsadm -Ln, ipset list), if it has any."""
    mode = MODES.get(lab.mode)
    return mode.views(lab, node) if mode is not None and mode.views is not None else []


def _trace_context(state: PageState, t: Any) -> dict[str, Any]:
    if not state.traces:
        return {"trace": None}
    trace = state.traces[0]
    final = trace.get("final") or {}
    endpoint = trace.get("endpoint") or (final.get("packet") or {}).get("dst") or "—"
    verdict = str(final.get("verdict", ""))
    return {
        "trace": trace,
        "trace_json": _embed(trace),
        "trace_summary": t(
            "lab.player.summary",
            node=str(trace.get("node", "")),
            steps=str(len(trace.get("steps", []))),
            verdict=verdict,
            endpoint=str(endpoint),
        ),
        "endpoints": dict(sorted(state.endpoints.items())),
        "request_total": sum(state.endpoints.values()),
    }


def context(opened: Opened, state: PageState, lang: str, t: Any, **extra: Any) -> dict[str, Any]:
    """Every variable the lab partials read."""
    lab = opened.lab
    summary = lab.summary()
    scenario = str(summary.get("scenario", "seed"))
    sync = state.sync or {}
    targets = views.targets(summary)
    return {
        "lab_id": opened.row.id,
        "version": opened.row.version,
        "readonly": False,
        "recipe_lines": [],
        "console_history": lab.console_history[-HISTORY_SHOWN:],
        "scenario": scenario,
        "scenario_text": SCENARIOS[scenario].description[lang] if scenario in SCENARIOS else "",
        "scenarios": [(s.id, s.title[lang]) for s in SCENARIOS.values()],
        "mode": lab.mode,
        "modes": [(m.name, m.title[lang]) for m in MODES.values()],
        "cluster": {} if state.cluster_kept else views.cluster_view(summary),
        "cluster_kept": state.cluster_kept,
        "rules_kept": state.rules_kept,
        "sources": views.sources(summary),
        "targets": targets,
        "request_to": state.request_to or (targets[0] if targets else ""),
        "request_from": state.request_from,
        "request_count": state.request_count,
        "request_node": state.request_node,
        "imported_nodes": [name for name, world in lab.nodes.items() if world.imported],
        "request_error": state.request_error,
        "has_player": PLAYER_TEMPLATE.exists(),
        "has_loadchart": LOADCHART_TEMPLATE.exists(),
        "player_css": _assets("css"),
        "player_js": _assets("js"),
        "changes": views.sync_changes(state.sync),
        "sync_summary": (sync.get("summary") or {}).get(lang, ""),
        "sync_notices": [n.get(lang, "") for n in sync.get("notices") or []],
        "error_notice": state.error_notice,
        "conflict": state.conflict,
        "info_notice": state.info_notice,
        **_trace_context(state, t),
        "rules_panel": rules_panel(opened, state, lang, t),
        **extra,
    }
