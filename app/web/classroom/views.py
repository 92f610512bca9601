"""What the classroom pages show, as template context: the answers chart (a plotly figure
dict, as app/web/charts.py builds them), the QR code of the join link (SVG made here, with
segno), the item a student sees, and the version tags that make unchanged polls cheap."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import plotly.graph_objects as go
import segno

from app.sim.classroom import NO_ENDPOINT
from app.store.classroom import Classroom, ClassroomItem
from app.web.i18n import translate

ANSWER_COLOR = "#3b55d9"
RIGHT_COLOR = "#1f8a4c"


def embed(data: Any) -> str:
    """JSON for a `<script type="application/json">` block: "<", ">" and "&" escaped so no
    nickname or rule comment can close the block."""
    text = json.dumps(data)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def qr_svg(url: str) -> str:
    """The join link as an SVG QR code (error correction M, dark on light for any theme)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(
        out,
        kind="svg",
        scale=8,
        border=2,
        dark="#000",
        light="#fff",
        xmldecl=False,
        svgns=True,
        title="QR",
        nl=False,
    )
    return out.getvalue().decode()


def option_label(option: dict[str, str], lang: str) -> str:
    if option["value"] == NO_ENDPOINT:
        return translate(lang, "classroom.option.none")
    return option["label"]


def answers_figure(item: ClassroomItem, counts: Counter[str], lang: str) -> dict[str, Any]:
    """Horizontal bars (long pod names stay readable from the back of the room): how many
    students chose each option; after the reveal the right one is green."""
    options = item.data.get("options", [])
    right = item.data.get("answer") if item.revealed else None
    labels = [option_label(o, lang).replace(" (", "<br>(") for o in options]
    values = [counts.get(o["value"], 0) for o in options]
    colors = [RIGHT_COLOR if o["value"] == right else ANSWER_COLOR for o in options]
    bars = go.Bar(
        x=values,
        y=labels,
        orientation="h",
        marker={"color": colors},
        text=[str(v) for v in values],
        textposition="outside",
        cliponaxis=False,
        hovertemplate="%{y}: %{x}<extra></extra>",
    )
    top = max([*values, 1])
    layout = go.Layout(
        template="none",
        title={"text": translate(lang, "classroom.chart.title", n=str(sum(values))), "x": 0},
        yaxis={"type": "category", "automargin": True, "autorange": "reversed"},
        xaxis={
            "rangemode": "tozero",
            "range": [0, top * 1.15],
            "dtick": max(1, top // 5),
            "gridcolor": "rgba(128,128,128,0.2)",
        },
        height=120 + 80 * len(options),
        margin={"l": 16, "r": 32, "t": 56, "b": 40},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "system-ui, sans-serif", "size": 18},
        showlegend=False,
        bargap=0.3,
    )
    return go.Figure(data=[bars], layout=layout).to_plotly_json()


def teacher_tag(room: Classroom, answers: int, students: int) -> str:
    """Changes whenever the teacher's live panel would: a push, lock, reveal, end, a new
    answer or a new student."""
    return f"t{room.version}-{room.number}-{answers}-{students}"


def student_tag(room: Classroom, own: str | None) -> str:
    """Changes when the student's panel would; other students' answers never change it, so
    nobody can learn them before the reveal by watching their own poll."""
    return f"s{room.version}-{room.number}-{own or ''}"
