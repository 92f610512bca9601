"""`/trace`: paste an iptables-save dump and a packet, get the engine's trace in the player;
bad rules and bad packets are answered under their field (iptables' own wording for rules),
in the page's language, and never with a server error."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from app.sim.netfilter.engine import trace_json
from app.web.i18n import translate
from app.web.routers.trace import example
from app.web.trace_form import RULESET_LIMIT

HTMX = {"HX-Request": "true"}
RULES = """*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
COMMIT
"""
PACKET = {
    "origin": "external",
    "src": "192.168.49.100",
    "dst": "10.96.0.10",
    "proto": "tcp",
    "sport": "40000",
    "dport": "80",
    "in_iface": "eth0",
    "node_ip": "192.168.49.2/24",
    "pod_cidr": "10.244.0.0/16",
    "pod_iface": "cni0",
    "local_ips": "",
    "seed": "0",
}


def _trace(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', html, re.S)
    assert match, "no trace in the page"
    return json.loads(match.group(1))


def _errors(html: str) -> dict[str, str]:
    found = re.findall(r'<p class="field-error" id="err-(\w+)">(.*?)</p>', html, re.S)
    found += re.findall(r'<div class="field-error" id="err-(\w+)"[^>]*>(.*?)</div>', html, re.S)
    return {name: re.sub(r"<[^>]+>", " ", text) for name, text in found}


def test_the_page_opens_with_the_example_already_traced(client: TestClient) -> None:
    answer = client.get("/trace?lang=en")
    assert answer.status_code == 200
    fields = example()
    packet = {k: fields[k] for k in ("origin", "src", "dst", "proto", "in_iface", "pod_iface")}
    packet |= {"sport": int(fields["sport"]), "dport": int(fields["dport"])}
    packet |= {"node_ip": fields["node_ip"], "pod_cidr": [fields["pod_cidr"]]}
    expected = trace_json(fields["ruleset"], packet, seed=0, all_branches=True)
    shown = _trace(answer.text)
    assert shown["steps"] == expected["steps"]
    assert sorted(b["dnat_to"] for b in shown["branches"]) == [
        "10.244.1.137:8080",
        "10.244.1.138:8080",
    ]
    assert "data-player" in answer.text and "KUBE-SVC-" in answer.text  # the dump is in the form


def test_a_submitted_dump_and_packet_are_traced(client: TestClient) -> None:
    answer = client.post("/trace", data={"ruleset": RULES, **PACKET}, headers=HTMX)
    assert answer.status_code == 200
    trace = _trace(answer.text)
    dnat = [s for s in trace["steps"] if s["verdict"] == "DNAT"]
    assert dnat and dnat[0]["packet"]["dst"] == "10.244.1.5"
    assert trace["final"]["packet"]["dst"] == "10.244.1.5"
    assert 'id="trace-workspace"' in answer.text and "<html" not in answer.text  # htmx swap


def test_rules_iptables_refuses_are_shown_in_its_wording_with_the_line(client: TestClient) -> None:
    bad = RULES.replace("-j KUBE-SERVICES", "-j KUBE-NOWHERE")
    answer = client.post("/trace?lang=zh", data={"ruleset": bad, **PACKET}, headers=HTMX)
    assert answer.status_code == 200
    error = _errors(answer.text)["ruleset"]
    assert "iptables-restore" in error and "KUBE-NOWHERE" in error
    assert translate("zh", "trace.error.rules") in error
    assert 'id="trace-data"' not in answer.text
    # A refusal that names a line shows that line of the paste.
    bad = RULES.replace("-A PREROUTING -j", "-A PREROUTING --bogus -j")
    answer = client.post("/trace?lang=en", data={"ruleset": bad, **PACKET}, headers=HTMX)
    error = _errors(answer.text)["ruleset"]
    assert 'unknown option "--bogus"' in error.replace("&#34;", '"')
    assert translate("en", "trace.error.line", n="4") in error
    assert "-A PREROUTING --bogus -j KUBE-SERVICES" in error


def test_bad_packet_fields_get_messages_under_each_field_in_the_language(
    client: TestClient,
) -> None:
    packet = {**PACKET, "src": "10.0.0.256", "dport": "70000", "in_iface": "a b"}
    answer = client.post("/trace?lang=zh", data={"ruleset": RULES, **packet}, headers=HTMX)
    errors = _errors(answer.text)
    assert errors["src"].strip() == translate("zh", "trace.error.ip")
    assert errors["dport"].strip() == translate("zh", "trace.error.port")
    assert errors["in_iface"].strip() == translate("zh", "trace.error.iface")
    assert 'aria-invalid="true" aria-describedby="err-src"' in answer.text


def test_without_javascript_a_bad_form_is_a_full_page_with_status_422(client: TestClient) -> None:
    answer = client.post("/trace?lang=en", data={"ruleset": RULES, **PACKET, "src": ""})
    assert answer.status_code == 422
    assert "<html" in answer.text
    assert _errors(answer.text)["src"].strip() == translate("en", "trace.error.required")


def test_a_dump_over_256_kib_is_refused_with_a_clear_message(client: TestClient) -> None:
    big = "# padding\n" * (RULESET_LIMIT // 10 + 50)
    answer = client.post("/trace?lang=en", data={"ruleset": big, **PACKET}, headers=HTMX)
    assert answer.status_code == 200
    size = str(-(-len(big) // 1024))
    assert translate("en", "trace.error.too_large", size=size) in answer.text
    huge = "x" * (4 * RULESET_LIMIT)
    answer = client.post("/trace?lang=en", data={"ruleset": huge, **PACKET}, headers=HTMX)
    assert answer.status_code == 200
    assert translate("en", "trace.error.body_too_large", limit="256") in answer.text


def test_odd_bodies_never_give_a_server_error(client: TestClient) -> None:
    for body, kind in (
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b'{"ruleset": 1}', "application/json"),
        (b"ruleset=%ZZ&src=", "application/x-www-form-urlencoded"),
    ):
        answer = client.post("/trace", content=body, headers={"content-type": kind, **HTMX})
        assert answer.status_code == 200, body
        assert _errors(answer.text), body


def _rows(html: str) -> dict[str, int]:
    found = re.findall(r"<th scope=\"row\"><code>([^<]+)</code></th><td>(\d+)</td>", html)
    return {endpoint: int(count) for endpoint, count in found}


def test_many_requests_split_between_endpoints_the_same_way_for_the_same_seed(
    client: TestClient,
) -> None:
    fields = {**example(), "count": "600"}
    first = client.post("/trace/load", data=fields, headers=HTMX)
    assert first.status_code == 200
    counts = _rows(first.text)
    assert sorted(counts) == ["10.244.1.137:8080", "10.244.1.138:8080"]
    assert sum(counts.values()) == 600
    assert all(200 < n < 400 for n in counts.values())  # about half each (p = 0.5)
    figure = json.loads(first.text.split("data-figure>", 1)[1].split("</script>", 1)[0])
    assert figure["data"][1]["y"] == [0.5, 0.5]  # the branches' probabilities
    assert _rows(client.post("/trace/load", data=fields, headers=HTMX).text) == counts
    other = client.post("/trace/load", data={**fields, "seed": "7"}, headers=HTMX)
    assert _rows(other.text) != counts


def test_many_requests_refuse_a_bad_count_or_packet_clearly(client: TestClient) -> None:
    for count in ("0", "10001", "many"):
        answer = client.post(
            "/trace/load?lang=en", data={**example(), "count": count}, headers=HTMX
        )
        assert answer.status_code == 200
        assert translate("en", "loadchart.error.count", max="10,000") in answer.text
    answer = client.post(
        "/trace/load?lang=zh", data={**example(), "count": "5", "dst": "x"}, headers=HTMX
    )
    assert translate("zh", "trace.error.ip") in answer.text
    assert "data-figure" not in answer.text
