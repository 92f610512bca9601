"""The progress chart of interview practice: per topic, the share of answers right so far,
after each sitting (a plotly figure dict drawn by static/js/loadchart.js)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import plotly.graph_objects as go

from app.store.quiz import QuizAnswer
from app.web.i18n import translate


def progress_points(answers: list[QuizAnswer]) -> dict[str, list[tuple[str, float, int]]]:
    """Per topic: (sitting's time, cumulative share right, answers so far) after each run."""
    right: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    points: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
    for i, answer in enumerate(answers):
        right[answer.topic] += int(answer.correct)
        seen[answer.topic] += 1
        last = i + 1 == len(answers) or answers[i + 1].run_id != answer.run_id
        if last:  # one point per topic per sitting, when the sitting is over
            for topic in {a.topic for a in answers if a.run_id == answer.run_id}:
                share = right[topic] / seen[topic]
                stamp = answer.answered.strftime("%Y-%m-%d %H:%M:%S")
                points[topic].append((stamp, share, seen[topic]))
    return dict(points)


def topic_totals(answers: list[QuizAnswer]) -> list[tuple[str, int, int]]:
    """Per topic (sorted): answers given and answers right - the chart's numbers as a table."""
    seen: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for answer in answers:
        seen[answer.topic][0] += 1
        seen[answer.topic][1] += int(answer.correct)
    return [(topic, n, right) for topic, (n, right) in sorted(seen.items())]


def progress_figure(answers: list[QuizAnswer], lang: str) -> dict[str, Any] | None:
    """Lines of the share right per topic over time; None before any answer."""
    points = progress_points(answers)
    if not points:
        return None
    traces = [
        go.Scatter(
            x=[p[0] for p in series],
            y=[p[1] for p in series],
            customdata=[p[2] for p in series],
            mode="lines+markers",
            marker={"size": 9},
            name=translate(lang, f"quiz.topic.{topic}"),
            hovertemplate="%{y:.0%} (%{customdata})<extra>%{fullData.name}</extra>",
        )
        for topic, series in sorted(points.items())
    ]
    layout = go.Layout(
        template="none",
        title={"text": translate(lang, "quiz.chart.title"), "x": 0, "xanchor": "left"},
        xaxis={"title": {"text": translate(lang, "quiz.chart.time")}, "type": "date"},
        yaxis={
            "title": {"text": translate(lang, "quiz.chart.share")},
            "tickformat": ".0%",
            "range": [0, 1.05],
            "gridcolor": "rgba(128,128,128,0.2)",
        },
        legend={"orientation": "h", "x": 0, "y": -0.3},
        margin={"l": 64, "r": 16, "t": 56, "b": 110},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": "system-ui, sans-serif", "size": 13},
    )
    return go.Figure(data=traces, layout=layout).to_plotly_json()
