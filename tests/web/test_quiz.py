"""/quiz through the app: a sitting is stored per learner, graded against the bank and the
engine, missed questions come back for review, and the progress chart appears."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.curriculum.quiz import practice
from app.store.quiz import QuizRun
from app.web.quiz_service import load


def _start(client: TestClient, **form: str) -> str:
    answer = client.post("/quiz/start", data=form, follow_redirects=False)
    assert answer.status_code == 303
    return answer.headers["location"]


def _score(html: str) -> tuple[int, int]:
    found = re.search(r'data-score="(\d+)" data-total="(\d+)"', html)
    assert found, html[:500]
    return int(found[1]), int(found[2])


def _right_form(run: QuizRun) -> dict[str, object]:
    """Every answer right, computed from the bank and the engine's own keys."""
    form: dict[str, object] = {}
    for i, ref in enumerate(run.questions):
        question = practice.resolve(ref)
        assert question is not None
        if question.type in ("single", "multiple"):
            form[f"a{i}"] = [str(c) for c in sorted(question.correct)]
        elif question.type == "order":
            for position, item in enumerate(range(len(question.items)), start=1):
                form[f"a{i}_{item}"] = str(position)
        elif question.type == "fill":
            form[f"a{i}"] = question.answers[0]
        else:
            form[f"a{i}"] = [str(p) for p in range(len(question.rubric))]
    return form


def test_the_page_offers_every_practice_in_both_languages(client: TestClient) -> None:
    page = client.get("/quiz")
    assert page.status_code == 200
    assert "kpl_session" in page.cookies
    assert 'value="mock"' in page.text and 'value="review"' in page.text
    assert "Topic drills" in page.text
    assert "面试练习" in client.get("/quiz?lang=zh").text


def test_a_mock_interview_answered_right_scores_full_and_wrong_answers_come_back(
    client: TestClient,
) -> None:
    client.get("/quiz")
    location = _start(client, kind="mock", count="6")
    sheet = client.get(location)
    assert sheet.status_code == 200 and "data-quiz-clock" in sheet.text
    run = load(client.app.state.engine, _learner(client), location.rsplit("/", 1)[1])
    assert run is not None and len(run.questions) == 6
    result = client.post(location, data=_right_form(run))
    assert _score(result.text) == (6, 6)
    # Nothing missed: nothing due for review.
    review = client.post("/quiz/start", data={"kind": "review"}, follow_redirects=False)
    assert review.headers["location"] == "/quiz?notice=none-due"

    location = _start(client, kind="drill", count="5", topic="ipvs")
    result = client.post(location, data={})
    assert _score(result.text) == (0, 5)
    assert result.text.count("quiz-reviewed wrong") == 5
    review = client.get(_start(client, kind="review", count="10"))
    assert review.text.count('class="card quiz-question"') == 5


def test_a_result_is_graded_once_and_is_the_learners_own(client: TestClient) -> None:
    client.get("/quiz")
    location = _start(client, kind="drill", count="5", topic="nftables")
    first = _score(client.post(location, data={}).text)
    run = load(client.app.state.engine, _learner(client), location.rsplit("/", 1)[1])
    assert run is not None
    again = _score(client.post(location, data=_right_form(run)).text)
    assert again == first  # a second submission does not regrade
    client.cookies.clear()
    assert client.get(location).status_code == 404


def test_the_progress_chart_appears_after_a_sitting(client: TestClient) -> None:
    assert "data-loadchart" not in client.get("/quiz").text
    client.post(_start(client, kind="drill", count="5", topic="service"), data={})
    page = client.get("/quiz")
    assert "data-loadchart" in page.text
    assert "Share of answers right, by topic" in page.text
    # The same numbers as a table: five service answers, none right.
    assert re.search(r"Service &amp; endpoints</th><td>5</td><td>0</td><td>0%</td>", page.text)


def test_bad_input_is_turned_away_without_an_error(client: TestClient) -> None:
    client.get("/quiz")
    assert (
        client.post("/quiz/start", data={"kind": "exam"}, follow_redirects=False).headers[
            "location"
        ]
        == "/quiz?notice=bad"
    )
    assert client.post("/quiz/start", data={"kind": "mock", "count": "999"}).status_code == 422
    location = _start(client, kind="mock", count="5")
    odd = {"a0": "x", "a1": ["9", "-1"], "a2_0": "banana", "a3": "🙂" * 50}
    assert client.post(location, data=odd).status_code == 200
    assert client.get("/quiz/run/" + "z" * 200).status_code == 404


def _learner(client: TestClient) -> str:
    from app.web.labs.identity import digest

    return digest(client.cookies["kpl_session"])


def test_the_engine_drill_poses_only_generated_questions_graded_by_the_engine(
    client: TestClient,
) -> None:
    client.get("/quiz")
    location = _start(client, kind="drill", count="5", topic="engine")
    run = load(client.app.state.engine, _learner(client), location.rsplit("/", 1)[1])
    assert run is not None and all(ref.startswith("gen:") for ref in run.questions)
    assert _score(client.post(location, data=_right_form(run)).text) == (5, 5)
