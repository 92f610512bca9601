"""The /lab page and its htmx actions: partials render, buttons run real commands, the rules
editor runs real iptables commands, stale forms answer 409, share links are read-only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.web.i18n import translate


def _open(client: TestClient, lang: str = "en") -> tuple[str, str]:
    page = client.get(f"/lab?lang={lang}")
    assert page.status_code == 200
    lab_id = re.search(r'data-lab="(\w+)"', page.text).group(1)
    return lab_id, _version(page.text)


def _version(html: str) -> str:
    return re.search(r'id="lab-version" name="version" value="(\d+)"', html).group(1)


def test_the_first_visit_creates_the_seed_lab_and_remembers_it(client: TestClient) -> None:
    page = client.get("/lab?lang=en")
    assert "kpl_session" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
    for text in ("10.97.139.74", "my-first-deploy-785c6c79d9-7bgf5", "KUBE-SERVICES"):
        assert text in page.text
    assert 'id="player"' in page.text and 'id="console-log"' in page.text
    again = client.get("/lab")
    assert re.search(r'data-lab="(\w+)"', again.text).group(1) in page.text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_page_speaks_both_languages(client: TestClient, lang: str) -> None:
    page = client.get(f"/lab?lang={lang}")
    assert translate(lang, "lab.console.title") in page.text
    assert translate(lang, "lab.rules.title") in page.text


def test_curl_in_the_console_hands_its_trace_to_the_player(client: TestClient) -> None:
    lab_id, version = _open(client)
    answer = client.post(
        f"/lab/{lab_id}/run", data={"command": "curl 10.97.139.74:8080", "version": version}
    )
    assert answer.status_code == 200
    assert "hello from my-first-deploy" in answer.text
    assert '<script type="application/json" id="trace-data">' in answer.text
    assert 'hx-swap-oob="beforeend:#console-log"' in answer.text
    assert 'class="hit"' in answer.text  # the rules it matched are highlighted
    assert int(_version(answer.text)) >= int(version)


def test_a_scale_button_reports_what_kube_proxy_rewrote(client: TestClient) -> None:
    lab_id, version = _open(client)
    command = "kubectl scale deployment/my-first-deploy --replicas=3"
    page = client.get("/lab").text
    assert command in page  # the + button carries exactly this command
    answer = client.post(f"/lab/{lab_id}/run", data={"command": command, "version": version})
    assert "KUBE-SVC-" in answer.text and translate("en", "lab.sync.title") in answer.text
    assert answer.text.count('class="pod pod-ready"') == 3


def test_a_stale_form_is_409_and_changes_nothing(client: TestClient) -> None:
    lab_id, version = _open(client)
    first = {"command": "kubectl scale deployment/my-first-deploy --replicas=3", "version": version}
    assert client.post(f"/lab/{lab_id}/run", data=first).status_code == 200
    second = {
        "command": "kubectl scale deployment/my-first-deploy --replicas=1",
        "version": version,
    }
    stale = client.post(f"/lab/{lab_id}/run", data=second)
    assert stale.status_code == 409
    assert translate("en", "lab.error.conflict") in stale.text
    assert stale.text.count('class="pod pod-ready"') == 3  # redrawn as the other tab left it
    assert client.get("/lab").text.count('class="pod pod-ready"') == 3


def test_the_rules_editor_runs_real_iptables_commands(client: TestClient) -> None:
    lab_id, version = _open(client)
    form = {
        "op": "append",
        "table": "filter",
        "chain": "INPUT",
        "spec": "-s 10.9.9.9 -j DROP",
        "node": "node1",
        "error_id": "e1",
        "version": version,
    }
    added = client.post(f"/lab/{lab_id}/rules", data=form)
    assert added.status_code == 200 and "-s 10.9.9.9/32 -j DROP" in added.text
    bad = {
        **form,
        "op": "delete",
        "chain": "NO-SUCH-CHAIN",
        "number": "1",
        "version": _version(added.text),
    }
    refused = client.post(f"/lab/{lab_id}/rules", data=bad)
    assert refused.status_code == 200
    assert 'id="e1"' in refused.text
    assert "iptables: No chain/target/match by that name." in refused.text


def test_show_as_switches_to_iptables_listings(client: TestClient) -> None:
    lab_id, _ = _open(client)
    save = client.get(f"/lab/{lab_id}/rules", params={"fmt": "save", "node": "node1"}).text
    assert "*nat" in save and "COMMIT" in save
    listing = client.get(f"/lab/{lab_id}/rules", params={"fmt": "list"}).text
    assert "Chain KUBE-SERVICES" in listing
    spec = client.get(f"/lab/{lab_id}/rules", params={"fmt": "spec"}).text
    assert "-N KUBE-SERVICES" in spec


def test_completion_answers_candidates(client: TestClient) -> None:
    lab_id, _ = _open(client)
    answer = client.get(f"/lab/{lab_id}/complete", params={"line": "kubectl get "})
    assert answer.status_code == 200
    assert any("svc" in c or "pods" in c for c in answer.json()["completions"])


def test_a_share_link_is_read_only_until_forked(client: TestClient) -> None:
    lab_id, version = _open(client)
    scale = {"command": "kubectl scale deployment/my-first-deploy --replicas=3", "version": version}
    version = _version(client.post(f"/lab/{lab_id}/run", data=scale).text)
    shared = client.post(f"/lab/{lab_id}/do", data={"op": "share", "version": version})
    url = re.search(r'value="(http://[^"]+/lab/shared/[^"]+)"', shared.text).group(1)
    path = url.split("testserver", 1)[1]
    visitor = type(client)(client.app)
    view = visitor.get(path + "?lang=en")
    assert view.status_code == 200
    assert translate("en", "lab.shared.readonly") in view.text
    assert 'id="console-form"' not in view.text
    assert view.text.count('class="pod pod-ready"') == 3
    assert "kubectl scale deployment/my-first-deploy --replicas=3</span>" in view.text
    forked = visitor.post(path + "/fork", follow_redirects=True)
    assert forked.status_code == 200 and 'id="console-form"' in forked.text
    assert re.search(r'data-lab="(\w+)"', forked.text).group(1) != lab_id


def test_another_session_cannot_act_on_a_lab(client: TestClient) -> None:
    lab_id, _ = _open(client)
    stranger = type(client)(client.app)
    answer = stranger.post(f"/lab/{lab_id}/run", data={"command": "kubectl get svc"})
    assert answer.status_code == 404


@pytest.mark.parametrize(
    "path,data",
    [
        ("run", {"command": "x" * 5000}),
        ("run", {"command": "\x00\x01\x7f", "version": "abc"}),
        ("rules", {"op": "replace", "table": "nat';--", "chain": "$(id)", "number": "-1"}),
        ("rules", {"op": "policy", "table": "filter", "chain": "INPUT", "spec": "MAYBE"}),
        ("request", {"source": "pod/nope", "to": "nowhere", "count": "99999"}),
        ("request", {"source": "external", "to": "10.97.139.74:8080", "count": "x"}),
        ("do", {"scenario": "no-such-scenario"}),
        ("do", {"mode": "no-such-mode"}),
        ("import", {"dump": "*nat\n-A BROKEN\n"}),
        ("load", {"from": "pod/\u202e", "to": "svc/x:1", "count": "abc"}),
        ("load", {"from": "external", "to": "10.97.139.74:8080", "count": "-1"}),
    ],
)
def test_hostile_forms_never_answer_500(client: TestClient, path: str, data: dict) -> None:
    lab_id, _ = _open(client)
    assert client.post(f"/lab/{lab_id}/{path}", data=data).status_code < 500


def test_the_load_chart_compares_observed_and_expected_shares(client: TestClient) -> None:
    lab_id, version = _open(client)
    form = {"from": "external", "to": "10.97.139.74:8080", "count": "400", "version": version}
    answer = client.post(f"/lab/{lab_id}/load", data=form)
    assert answer.status_code == 200
    assert 'id="loadchart-result"' in answer.text and "data-figure" in answer.text
    rows = re.findall(r"<code>(10\.244\.1\.13[78]:8080)</code></th><td>(\d+)</td>", answer.text)
    assert {endpoint for endpoint, _ in rows} == {"10.244.1.137:8080", "10.244.1.138:8080"}
    assert sum(int(n) for _, n in rows) == 400
    assert answer.text.count("50.0%") == 2  # both expected shares, from the rules' cascade
    assert int(_version(answer.text)) == int(version) + 1


def test_the_load_chart_refuses_more_than_10000_requests(client: TestClient) -> None:
    lab_id, version = _open(client)
    form = {"from": "external", "to": "10.97.139.74:8080", "count": "10001", "version": version}
    answer = client.post(f"/lab/{lab_id}/load", data=form)
    assert answer.status_code == 200 and "10000" in answer.text
    assert "data-figure" not in answer.text


def test_the_navigation_leads_to_the_lab(client: TestClient) -> None:
    home = client.get("/?lang=en").text
    assert '<a href="/lab"' in home
    lab = client.get("/lab").text
    assert '<a href="/lab" aria-current="page">' in lab


def test_an_imported_dump_becomes_a_node_requests_can_go_through(client: TestClient) -> None:
    lab_id, version = _open(client)
    dump = (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        ":POSTROUTING ACCEPT [0:0]\n"
        "-A PREROUTING -d 10.96.0.10/32 -p tcp --dport 53"
        " -j DNAT --to-destination 10.244.1.137:53\n"
        "COMMIT\n"
    )
    imported = client.post(f"/lab/{lab_id}/import", data={"dump": dump, "version": version})
    assert imported.status_code == 200
    assert translate("en", "lab.import.done") in imported.text
    assert '<option value="imported" selected>' in imported.text
    assert "--to-destination 10.244.1.137:53" in imported.text  # the rules view shows it
    form = {
        "source": "external",
        "to": "10.96.0.10:53",
        "node": "imported",
        "version": _version(imported.text),
    }
    walked = client.post(f"/lab/{lab_id}/request", data=form)
    assert walked.status_code == 200
    trace = re.search(r'id="trace-data">(.*?)</script>', walked.text, re.S).group(1)
    assert '"node": "imported"' in trace and "10.244.1.137:53" in trace


def test_a_broken_dump_shows_iptables_restores_error_under_the_form(client: TestClient) -> None:
    lab_id, version = _open(client)
    answer = client.post(
        f"/lab/{lab_id}/import",
        data={"dump": "*nat\n-A NOPE -j ACCEPT\nCOMMIT\n", "version": version},
    )
    assert answer.status_code == 200
    error = re.search(
        r'id="import-err" role="alert" hx-swap-oob="true">(.*?)</p>', answer.text, re.S
    )
    assert error and "iptables-restore" in error.group(1)


def test_the_chain_just_edited_stays_open(client: TestClient) -> None:
    lab_id, version = _open(client)
    page = client.get("/lab").text
    svc = re.search(r'<code class="chain-name">(KUBE-SVC-\w+)</code>', page).group(1)
    form = {
        "op": "delete",
        "table": "nat",
        "chain": svc,
        "number": "2",
        "node": "node1",
        "error_id": "e",
        "version": version,
    }
    answer = client.post(f"/lab/{lab_id}/rules", data=form)
    block = re.search(
        rf'<details class="chain-block[^"]*"([^>]*)>\s*<summary>\s*<span class="kind">chain</span>'
        rf' <code class="chain-name">{svc}</code>',
        answer.text,
    )
    assert block and "open" in block.group(1)
    assert re.search(rf'{svc}</code>\s*<span class="count">2 rules</span>', answer.text)


def test_console_text_is_escaped_and_clear_empties_the_screen(client: TestClient) -> None:
    lab_id, version = _open(client)
    hostile = "kubectl get pod '<script>alert(1)</script>'"
    answer = client.post(f"/lab/{lab_id}/run", data={"command": hostile, "version": version})
    assert answer.status_code == 200
    assert "<script>alert(1)" not in answer.text
    assert "&lt;script&gt;alert(1)" in answer.text
    cleared = client.post(f"/lab/{lab_id}/run", data={"command": "clear"})
    assert 'hx-swap-oob="innerHTML:#console-log"' in cleared.text


def test_undo_and_reset_from_the_toolbar(client: TestClient) -> None:
    lab_id, version = _open(client)
    scale = {"command": "kubectl scale deployment/my-first-deploy --replicas=4", "version": version}
    version = _version(client.post(f"/lab/{lab_id}/run", data=scale).text)
    undone = client.post(f"/lab/{lab_id}/do", data={"op": "undo", "version": version})
    assert translate("en", "lab.undo.done") in undone.text
    assert undone.text.count('class="pod pod-ready"') == 2
    again = {**scale, "version": _version(undone.text)}
    version = _version(client.post(f"/lab/{lab_id}/run", data=again).text)
    reset = client.post(f"/lab/{lab_id}/do", data={"op": "reset", "version": version})
    assert translate("en", "lab.reset.done") in reset.text
    assert reset.text.count('class="pod pod-ready"') == 2


def test_a_lab_saved_in_an_older_shape_starts_afresh_instead_of_failing(
    client: TestClient,
) -> None:
    from sqlalchemy import update
    from sqlmodel import Session

    from app.store.models import Lab as LabRow

    lab_id, _ = _open(client)
    with Session(client.app.state.engine) as session:
        # A new version, as every write makes: workers holding the lab in memory see it changed.
        older = {"data": {"format": 0}, "version": LabRow.version + 1}
        session.exec(update(LabRow).where(LabRow.id == lab_id).values(**older))
        session.commit()
    page = client.get("/lab?lang=en")
    assert page.status_code == 200
    assert translate("en", "lab.error.unreadable_fresh") in page.text
    assert re.search(r'data-lab="(\w+)"', page.text).group(1) != lab_id
    assert client.post(f"/lab/{lab_id}/run", data={"command": "kubectl get svc"}).status_code == 409
    assert client.get(f"/api/labs/{lab_id}").status_code == 409
    assert client.get(f"/lab/{lab_id}/rules").status_code == 409
    completion = client.get(f"/lab/{lab_id}/complete", params={"line": "kubectl "})
    assert completion.status_code == 200 and completion.json() == {"completions": []}
