"""The progress chart's numbers: the running share of right answers per topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.store.quiz import QuizAnswer
from app.web.quiz_charts import progress_figure, progress_points


def test_progress_is_the_running_share_right_per_topic_after_each_sitting() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)

    def answer(run: str, topic: str, correct: bool, minutes: int) -> QuizAnswer:
        when = start + timedelta(minutes=minutes)
        return QuizAnswer(
            learner="l", run_id=run, question="q", topic=topic, correct=correct, answered=when
        )

    answers = [
        answer("r1", "ipvs", False, 0),
        answer("r1", "ipvs", True, 1),
        answer("r1", "modes", True, 1),
        answer("r2", "ipvs", True, 60),
        answer("r2", "ipvs", True, 61),
    ]
    points = progress_points(answers)
    assert [(share, n) for _t, share, n in points["ipvs"]] == [(0.5, 2), (0.75, 4)]
    assert [(share, n) for _t, share, n in points["modes"]] == [(1.0, 1)]


def test_no_answers_no_chart_and_topic_names_in_the_language() -> None:
    assert progress_figure([], "en") is None
    one = QuizAnswer(
        learner="l",
        run_id="r",
        question="q",
        topic="ipvs",
        correct=True,
        answered=datetime(2026, 11, 1, tzinfo=UTC),
    )
    figure = progress_figure([one], "zh")
    assert figure is not None
    assert figure["data"][0]["name"] == "IPVS 调度算法"
