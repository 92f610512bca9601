"""Figures of the /compare page: how each kube-proxy mode's cost grows with the number of
Services, from `app.sim.compare.scale_study` (measured by the real renderers and engines).
Figure dicts are drawn in the browser by static/js/loadchart.js with the vendored plotly.js.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from app.web.i18n import translate

#: One colour and dash per mode, readable in both themes and without colour (dash differs).
STYLE = {
    "iptables": ("#d9480f", "solid"),
    "ipvs": ("#3b55d9", "dash"),
    "nftables": ("#2b8a3e", "dot"),
    "userspace": ("#868e96", "dashdot"),
}


def scale_figure(study: dict[str, Any], metric: str, lang: str) -> dict[str, Any]:
    """Lines of `metric` ("rules_evaluated" or "rules_rewritten") against the number of
    Services, one per mode, both axes logarithmic (the O(n) line climbs, O(1) stays flat)."""
    sizes = study["sizes"]
    traces = []
    for mode in study["modes"]:
        color, dash = STYLE[mode]
        values = [point[mode][metric] for point in study["points"]]
        traces.append(
            go.Scatter(
                x=sizes,
                y=[max(v, 0.8) for v in values],  # a log axis cannot show 0: draw it at the floor
                customdata=values,
                mode="lines+markers",
                name=translate(lang, f"compare.mode.{mode}"),
                line={"color": color, "dash": dash, "width": 3},
                marker={"size": 8},
                hovertemplate=translate(lang, f"compare.hover.{metric}") + "<extra></extra>",
            )
        )
    layout = go.Layout(
        title={"text": translate(lang, f"compare.chart.{metric}")},
        xaxis={
            "title": {"text": translate(lang, "compare.axis.services")},
            "type": "log",
            "dtick": 1,
        },
        yaxis={
            "title": {"text": translate(lang, f"compare.axis.{metric}")},
            "type": "log",
            "dtick": 1,  # powers of ten only: the O(n) line climbs a decade per decade
        },
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 70, "r": 20, "t": 50, "b": 40},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        height=380,
    )
    return go.Figure(data=traces, layout=layout).to_plotly_json()


def rows(study: dict[str, Any]) -> list[dict[str, Any]]:
    """The same numbers as a table (the chart's accessible twin)."""
    return [
        {"services": p["services"], **{m: p[m] for m in study["modes"]}} for p in study["points"]
    ]
