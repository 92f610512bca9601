"""Chart figures for the pages, built with the `plotly` package and handed to the browser as
figure dicts (JSON-ready: `{"data": [...], "layout": {...}}`) that static/js/loadchart.js
draws with the vendored plotly.js. The web layer only turns the engine's numbers into a
picture; it computes no netfilter outcome itself.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from app.web.i18n import translate

#: Accent and teal of the light theme (app.css); loadchart.js re-colours for the dark theme.
OBSERVED_COLOR = "#3b55d9"
EXPECTED_COLOR = "#d9480f"


def _order(endpoints: dict[str, int], expected: dict[str, float]) -> list[str]:
    """Expected endpoints first (in the order given), then any other that answered, sorted."""
    extra = sorted(k for k in endpoints if k not in expected)
    return [*expected, *extra]


def _label(key: str, lang: str) -> str:
    return key or translate(lang, "chart.dropped")


def endpoint_distribution_figure(
    endpoints: dict[str, int], expected: dict[str, float], lang: str
) -> dict[str, Any]:
    """Bars of the share of requests each endpoint received, and markers at the share the
    rules give it (`expected`, fractions summing to 1, e.g. from the branches of a trace).

    `endpoints` counts the answers per "IP:PORT" ("" for requests no endpoint received).
    Labels are in `lang`; hovering a bar shows the count and both shares.
    """
    keys = _order(endpoints, expected)
    total = sum(endpoints.values())
    observed = [endpoints.get(k, 0) / total if total else 0.0 for k in keys]
    wanted = [float(expected.get(k, 0.0)) for k in keys]
    labels = [_label(k, lang) for k in keys]
    counts = [endpoints.get(k, 0) for k in keys]
    observed_name = translate(lang, "chart.observed")
    expected_name = translate(lang, "chart.expected")
    bars = go.Bar(
        x=labels,
        y=observed,
        name=observed_name,
        marker={"color": OBSERVED_COLOR},
        customdata=[[c, w] for c, w in zip(counts, wanted, strict=True)],
        hovertemplate=translate(lang, "chart.hover") + "<extra></extra>",
        text=[f"{share:.1%}" for share in observed],
        textposition="inside",
        insidetextanchor="end",
        textfont={"color": "#ffffff"},
    )
    markers = go.Scatter(
        x=labels,
        y=wanted,
        name=expected_name,
        mode="markers",
        marker={"symbol": "line-ew", "size": 72, "line": {"width": 4, "color": EXPECTED_COLOR}},
        hovertemplate=expected_name + ": %{y:.1%}<extra></extra>",
    )
    layout = go.Layout(
        template="none",
        title={"text": translate(lang, "chart.title", n=str(total)), "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": translate(lang, "chart.endpoint")}, "type": "category"},
        yaxis={
            "title": {"text": translate(lang, "chart.share")},
            "tickformat": ".0%",
            "range": [0, max([*observed, *wanted, 0.01]) * 1.2],
            "gridcolor": "rgba(128,128,128,0.2)",
        },
        legend={"orientation": "h", "x": 0, "y": -0.25},
        bargap=0.45,
        margin={"l": 64, "r": 16, "t": 56, "b": 96},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "system-ui, sans-serif", "size": 13},
    )
    return go.Figure(data=[bars, markers], layout=layout).to_plotly_json()


def endpoint_table(
    endpoints: dict[str, int], expected: dict[str, float], lang: str
) -> list[dict[str, Any]]:
    """The same numbers as rows (endpoint, count, observed, expected) for the table that sits
    beside the chart, so they are readable without the picture."""
    keys = _order(endpoints, expected)
    total = sum(endpoints.values())
    return [
        {
            "endpoint": _label(k, lang),
            "count": endpoints.get(k, 0),
            "observed": endpoints.get(k, 0) / total if total else 0.0,
            "expected": float(expected.get(k, 0.0)),
        }
        for k in keys
    ]
