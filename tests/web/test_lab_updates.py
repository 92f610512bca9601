"""An htmx answer on /lab redraws only the panels the action changed: a read-only console line
leaves the rules and the cluster out, a rule edit brings the rules panel with the new rule, a
scale brings the cluster, a packet brings the rules with its hits and new counters. The plain
panel of a lab version is drawn once per process and never shown for another version."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.web.i18n import translate
from app.web.labs.panels import PANELS, Panels

RULES = 'id="rules"'
CLUSTER = 'id="cluster"'


def _open(client: TestClient) -> tuple[str, str]:
    page = client.get("/lab?lang=en").text
    lab_id = re.search(r'data-lab="(\w+)"', page).group(1)
    return lab_id, _version(page)


def _version(html: str) -> str:
    return re.search(r'id="lab-version" name="version" value="(\d+)"', html).group(1)


def _run(client: TestClient, lab_id: str, version: str, command: str) -> str:
    answer = client.post(f"/lab/{lab_id}/run", data={"command": command, "version": version})
    assert answer.status_code == 200
    return answer.text


def test_a_read_only_command_answers_without_the_rules_or_the_cluster(client: TestClient) -> None:
    lab_id, version = _open(client)
    for command in ("kubectl get pods", "iptables -t nat -L -n"):
        text = _run(client, lab_id, version, command)
        assert RULES not in text and CLUSTER not in text
        assert 'hx-swap-oob="beforeend:#console-log"' in text  # the output itself is there
        version = _version(text)
    assert "my-first-deploy-785c6c79d9-7bgf5" in _run(client, lab_id, version, "kubectl get pods")


def test_a_rule_edit_answers_with_the_rules_panel_holding_the_new_rule(client: TestClient) -> None:
    lab_id, version = _open(client)
    text = _run(client, lab_id, version, "iptables -A INPUT -s 10.9.8.7/32 -j DROP")
    assert RULES in text and "-s 10.9.8.7/32 -j DROP" in text
    assert CLUSTER not in text  # the cluster did not change
    # deleting it again is a change too: the panel comes back without the rule
    text = _run(client, lab_id, _version(text), "iptables -D INPUT -s 10.9.8.7/32 -j DROP")
    assert RULES in text and "10.9.8.7" not in text.split(RULES, 1)[1]


def test_a_scale_redraws_the_cluster_and_the_rules_kube_proxy_rewrote(client: TestClient) -> None:
    lab_id, version = _open(client)
    text = _run(client, lab_id, version, "kubectl scale deployment/my-first-deploy --replicas=2")
    assert CLUSTER in text and RULES in text
    assert text.count('class="pod pod-') == 2 + text.count('class="pod pod-terminating')


def test_a_packet_redraws_the_rules_with_its_hits_and_counters(client: TestClient) -> None:
    lab_id, version = _open(client)
    _run(client, lab_id, version, "kubectl get pods")  # nothing drawn ...
    form = {"source": "external", "to": "svc/my-first-deploy:8080", "count": "3"}
    text = client.post(f"/lab/{lab_id}/request", data=form).text
    assert RULES in text and CLUSTER not in text  # ... a packet is a change: counters moved
    assert '<tr class="hit"' in text
    rules = text.split(RULES, 1)[1]
    assert re.search(
        r'<tr class="hit"[^>]*>\s*<td class="num">\d+</td><td class="num">3</td>', rules
    )
    # a read-only line afterwards leaves the highlighted panel as the browser shows it
    assert RULES not in _run(client, lab_id, _version(text), "kubectl get svc")
    # the same packet again: the chains it passed show the new counts, drawn afresh
    text = client.post(f"/lab/{lab_id}/request", data=form | {"count": "2"}).text
    rules = text.split(RULES, 1)[1]
    assert re.search(
        r'<tr class="hit"[^>]*>\s*<td class="num">\d+</td><td class="num">5</td>', rules
    )
    assert rules.count('<details class="chain-block') == client.get(
        f"/lab/{lab_id}/rules?fmt=tree"
    ).text.count('<details class="chain-block')  # every chain is there, drawn or kept


def test_a_panel_drawn_once_per_version_is_never_stale(client: TestClient) -> None:
    lab_id, version = _open(client)
    before = PANELS.hits
    first = client.get(f"/lab/{lab_id}/rules?fmt=tree&lang=en").text
    again = client.get(f"/lab/{lab_id}/rules?fmt=tree&lang=en").text
    assert again == first and PANELS.hits >= before + 1  # the same HTML, drawn once
    chinese = client.get(f"/lab/{lab_id}/rules?fmt=tree&lang=zh").text
    assert chinese != first and translate("zh", "lab.rules.title") in chinese
    assert "-s 10.6.5.4/32" not in first
    _run(client, lab_id, version, "iptables -A INPUT -s 10.6.5.4/32 -j DROP")
    for fmt in ("tree", "save"):
        assert "-s 10.6.5.4/32" in client.get(f"/lab/{lab_id}/rules?fmt={fmt}&lang=en").text
    assert "-s 10.6.5.4/32" in client.get("/lab?lang=en").text


def test_the_panels_kept_are_bounded_in_count_and_size() -> None:
    panels = Panels(size=3, chars=100)
    for n in range(5):
        panels.put(("lab", n, "en", "node", "tree"), "x" * 10)
    assert len(panels) == 3 and panels.get(("lab", 0, "en", "node", "tree")) is None
    panels.put(("lab", 9, "en", "node", "tree"), "y" * 90)  # pushes out all but itself and one
    assert panels.get(("lab", 9, "en", "node", "tree")) == "y" * 90
    assert sum(len(panels.get(k) or "") for k in list(panels._html)) <= 100
    panels.put(("lab", 10, "en", "node", "tree"), "z" * 101)  # larger than the bound: not kept
    assert panels.get(("lab", 10, "en", "node", "tree")) is None
