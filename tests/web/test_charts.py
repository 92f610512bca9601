"""The load chart's figure: observed shares as bars, the rules' shares as markers, labels in
the page's language, and the loadchart partials that draw it."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI

from app.web.charts import endpoint_distribution_figure, endpoint_table
from app.web.i18n import translate
from app.web.templating import page_context

A, B, C = "10.244.1.137:8080", "10.244.1.138:8080", "10.244.2.6:8080"


def test_bars_are_observed_shares_and_markers_the_expected_ones() -> None:
    figure = endpoint_distribution_figure({A: 300, B: 700}, {A: 0.5, B: 0.5}, "en")
    bars, markers = figure["data"]
    assert bars["type"] == "bar" and markers["mode"] == "markers"
    assert bars["x"] == [A, B] and markers["x"] == [A, B]
    assert bars["y"] == pytest.approx([0.3, 0.7])
    assert markers["y"] == [0.5, 0.5]
    assert [row[0] for row in bars["customdata"]] == [300, 700]
    assert figure["layout"]["title"]["text"] == translate("en", "chart.title", n="1000")
    json.dumps(figure)  # a plain figure dict the browser can take as JSON


def test_an_endpoint_that_got_nothing_still_has_its_bar_and_an_unexpected_one_is_added() -> None:
    figure = endpoint_distribution_figure({A: 10, C: 2}, {A: 0.5, B: 0.5}, "en")
    bars, markers = figure["data"]
    assert bars["x"] == [A, B, C]
    assert bars["y"] == pytest.approx([10 / 12, 0.0, 2 / 12])
    assert markers["y"] == [0.5, 0.5, 0.0]


def test_labels_follow_the_language_and_dropped_requests_are_named() -> None:
    zh = endpoint_distribution_figure({A: 5, "": 5}, {A: 1.0}, "zh")
    assert zh["data"][0]["name"] == translate("zh", "chart.observed")
    assert zh["data"][0]["x"][-1] == translate("zh", "chart.dropped")
    assert zh["layout"]["yaxis"]["title"]["text"] == translate("zh", "chart.share")
    assert (
        zh["layout"]["title"]["text"]
        != endpoint_distribution_figure({A: 5, "": 5}, {A: 1.0}, "en")["layout"]["title"]["text"]
    )


def test_no_requests_yet_gives_zero_shares_not_an_error() -> None:
    bars, markers = endpoint_distribution_figure({}, {A: 0.5, B: 0.5}, "en")["data"]
    assert bars["y"] == [0.0, 0.0]
    assert markers["y"] == [0.5, 0.5]
    assert endpoint_table({}, {A: 1.0}, "en")[0]["observed"] == 0.0


def test_the_partial_embeds_the_figure_and_the_table(client) -> None:
    app: FastAPI = client.app
    figure = endpoint_distribution_figure({A: 1, B: 3}, {A: 0.5, B: 0.5}, "en")
    rows = endpoint_table({A: 1, B: 3}, {A: 0.5, B: 0.5}, "en")

    class Req:  # the smallest request the template globals need
        def __init__(self) -> None:
            self.app = app
            self.scope = {"root_path": ""}
            self.query_params: dict[str, str] = {}
            self.url = type("U", (), {"path": "/lab"})()
            self.state = type("S", (), {"lang": "en", "present": False})()

    env = app.state.templates.env
    context = page_context(Req())  # type: ignore[arg-type]
    html = env.get_template("partials/loadchart.html").render(
        **context,
        loadchart_action="/lab/x/load",
        sources=["pod/a", ("node/master", "master")],
        targets=["svc/my-first-deploy:8080"],
        figure=figure,
        rows=rows,
    )
    assert 'hx-post="/lab/x/load"' in html
    assert '<option value="node/master"' in html and ">master</option>" in html
    assert 'max="10000"' in html and 'id="loadchart-progress"' in html
    embedded = html.split("data-figure>", 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded)["data"][0]["y"] == pytest.approx([0.25, 0.75])
    assert "75.0%" in html and "/static/vendor/plotly-4.1.1.min.js" in html
