"""A lab's recipe (replayed by share links) stays small under the player's Send button: the
same request sent again right after is counted on one entry, and the replay of that entry
gives back exactly the lab the learner had."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from app.sim.lab import Lab, LabError
from app.web.labs import repo
from app.web.labs.identity import Caller, digest

FORM = {"source": "external", "to": "svc/my-first-deploy:8080", "proto": "tcp", "count": "2"}


def _version(html: str) -> str:
    return re.search(r'id="lab-version" name="version" value="(\d+)"', html).group(1)


def test_repeated_requests_are_one_recipe_entry_and_replay_exactly(client: TestClient) -> None:
    page = client.get("/lab?lang=en").text
    lab_id, version = re.search(r'data-lab="(\w+)"', page).group(1), _version(page)

    def post(path: str, form: dict[str, str]) -> str:
        nonlocal version
        answer = client.post(f"/lab/{lab_id}/{path}", data=form | {"version": version})
        assert answer.status_code == 200, answer.text
        version = _version(answer.text)
        return answer.text

    for _ in range(5):
        post("request", FORM)
    post("run", {"command": "kubectl get pods"})
    post("request", FORM)
    post("request", FORM | {"count": "1"})
    engine = client.app.state.engine
    row = repo.find(engine, lab_id, Caller(digest(client.cookies["kpl_session"]), None))
    assert row is not None
    args = ["external", "svc/my-first-deploy:8080", "tcp"]
    assert row.data["commands"] == [
        {"request": [*args, 2, None], "times": 5},
        "kubectl get pods",
        {"request": [*args, 2, None]},
        {"request": [*args, 1, None]},
    ]
    stored = Lab.from_data(row.data)
    replayed = Lab.from_recipe(stored.recipe())
    assert replayed.recipe() == stored.recipe()
    for node in stored.nodes:  # every counter and conntrack entry as the learner left them
        assert replayed.nodes[node].to_data() == stored.nodes[node].to_data()
    # the share link replays it into the same rules
    token = re.search(r"/lab/shared/([\w-]+)", post("do", {"op": "share"})).group(1)
    shared = html.unescape(client.get(f"/lab/shared/{token}/rules?fmt=save").text)
    assert stored.rules(None, "save").split("\n", 1)[1] in shared
    # and its console shows each entry, the repeated one with its count
    console = html.unescape(client.get(f"/lab/shared/{token}?lang=en").text)
    request = "# request external -> svc/my-first-deploy:8080 tcp"
    assert f"{request} x2 (sent 5 times)</span>" in console
    assert f"{request} x2</span>" in console and f"{request} x1</span>" in console


def test_a_recipe_entry_with_a_bad_count_of_times_is_refused() -> None:
    bad = {"scenario": "seed", "mode": "iptables", "seed": 1}
    for times in (0, -1, "3", True, 1.5):
        entry = {"request": ["external", "svc/my-first-deploy:8080", "tcp", 1, None]}
        with pytest.raises(LabError):
            Lab.from_recipe(bad | {"commands": [entry | {"times": times}]})
