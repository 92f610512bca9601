"""Reading restore text and printing it back the way iptables-save / -S / -L do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.sim.netfilter.errors import IptablesError
from app.sim.netfilter.parse import apply_restore, parse_restore, parse_rule_args
from app.sim.netfilter.render import (
    ListFormat,
    format_count,
    render_list,
    render_rules,
    render_save,
    rule_line,
)

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
CORPUS = SHARED / "conformance/kube-proxy/iptables"

SAVED = """\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" \
-m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-WEB -p tcp -m statistic --mode random --probability 0.50000000000 -j DNAT \
--to-destination 10.244.1.5:8080
COMMIT
""".replace("\\\n", "")


def test_saved_text_round_trips_exactly() -> None:
    assert render_save(parse_restore(SAVED)) == SAVED


def test_kube_proxy_spelling_becomes_iptables_save_spelling() -> None:
    written = "-m comment --comment ns1/svc1:p80 -m tcp -p tcp -d 172.30.0.41 --dport 80 -j X"
    assert rule_line("KUBE-SERVICES", parse_rule_args(written.split())) == (
        '-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80" '
        "-m tcp --dport 80 -j X"
    )
    statistic = ["-m", "statistic", "--mode", "random", "--probability", "0.3333333333"]
    prob = parse_rule_args([*statistic, "-j", "X"])
    assert "--probability 0.33333333349" in rule_line("C", prob)
    implicit = parse_rule_args(["-p", "udp", "--dport", "53", "-j", "ACCEPT"])
    assert rule_line("INPUT", implicit) == "-A INPUT -p udp -m udp --dport 53 -j ACCEPT"


def test_list_and_rules_output() -> None:
    table = parse_restore(SAVED).tables["nat"]
    listing = render_list(table, "KUBE-SVC-WEB", fmt=ListFormat(numeric=True, lines=True))
    assert listing.splitlines() == [
        "Chain KUBE-SVC-WEB (1 references)",
        "num  target     prot opt source               destination         ",
        "1    KUBE-MARK-MASQ  6    -- !10.244.0.0/16        10.96.0.10           tcp dpt:80",
        "2    DNAT       6    --  0.0.0.0/0            0.0.0.0/0            "
        "statistic mode random probability 0.50000000000 to:10.244.1.5:8080",
    ]
    assert render_rules(table, "KUBE-MARK-MASQ") == (
        "-N KUBE-MARK-MASQ\n-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
    )
    assert render_rules(table, "KUBE-SVC-WEB", 3) == ""


@pytest.mark.parametrize(
    ("number", "text"),
    [(0, "    0 "), (99999, "99999 "), (100000, " 100K "), (123456789, " 123M ")],
)
def test_counts_use_iptables_units(number: int, text: str) -> None:
    assert format_count(number, exact=False) == text


def test_restore_failure_changes_nothing_and_names_the_line() -> None:
    ruleset = parse_restore(SAVED)
    before = render_save(ruleset)
    bad = "*nat\n:KUBE-SVC-WEB - [0:0]\n-A KUBE-SVC-WEB -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n"
    with pytest.raises(IptablesError) as err:
        apply_restore(ruleset, bad, noflush=True)
    assert err.value.status == 2
    assert err.value.text("iptables-restore").splitlines()[:2] == [
        "iptables-restore v1.8.9 (nf_tables): invalid port/service `99999' specified",
        "Error occurred at line: 3",
    ]
    assert render_save(ruleset) == before


def _corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(CORPUS.glob("*/expected-iptables-save.txt"))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="kube-proxy corpus not present in ../shared")
@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.parent.name)
def test_corpus_rulesets_parse_and_round_trip(path: Path) -> None:
    text = path.read_text()
    ruleset = parse_restore(text)
    rules = [line for line in text.splitlines() if line.startswith("-A ")]
    assert sum(len(c.rules) for t in ruleset.tables.values() for c in t.chains.values()) == len(
        rules
    )
    saved = render_save(ruleset)
    assert render_save(parse_restore(saved)) == saved
    # every chain and every jump survives the rewrite to iptables-save spelling
    for chain in re.findall(r"^:(\S+) - ", text, re.M):
        assert f":{chain} - [0:0]" in saved


@pytest.mark.skipif(not CORPUS.is_dir(), reason="kube-proxy corpus not present in ../shared")
def test_partial_syncs_apply_on_top_of_the_full_sync() -> None:
    steps = sorted((CORPUS / "02-sync-proxy-rules-repeated").glob("step-*.txt"))
    ruleset = parse_restore(steps[0].read_text())
    for step in steps[1:]:
        apply_restore(ruleset, step.read_text(), noflush=True)
        for line in step.read_text().splitlines():
            if line.startswith("-X "):
                assert line[3:] not in ruleset.tables["nat"].chains
