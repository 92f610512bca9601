"""`describe_rule` explains every option of a parsed rule in both languages, and
`check_spec` answers a typed rule exactly as `iptables` would, pointing at the bad token."""

from __future__ import annotations

import shlex

import pytest

from app.sim.netfilter.describe import (
    MODULES,
    OPTIONS,
    check_spec,
    describe_rule,
    probability_text,
)
from app.sim.netfilter.matches import MATCHES
from app.sim.netfilter.parse import parse_restore, parse_rule_args
from app.sim.netfilter.render import render_save
from app.sim.netfilter.targets import TARGETS


def _describe(spec: str, chain: str | None = None, table: str | None = "nat") -> list[dict]:
    return describe_rule(parse_rule_args(shlex.split(spec)), chain, table)


@pytest.mark.parametrize("name", sorted({*MATCHES, *TARGETS}))
def test_every_registered_extension_and_option_is_explained_in_both_languages(name: str) -> None:
    cls = MATCHES.get(name) or TARGETS[name]
    en, zh = MODULES[name]
    assert en.strip() and zh.strip() and en != zh
    for canonical in {spec[0] for spec in cls.options.values()}:
        en, zh = OPTIONS[(name, canonical)]
        assert en.strip() and zh.strip() and en != zh, (name, canonical)


def test_a_kube_proxy_endpoint_choice_is_explained_option_by_option() -> None:
    spec = (
        '-d 10.97.139.74/32 -p tcp -m comment --comment "default/web cluster IP" '
        "-m tcp --dport 8080 -m statistic --mode random --probability 0.50000000000 "
        "-j KUBE-SEP-ABC"
    )
    items = _describe(spec, chain="KUBE-SVC-X")
    texts = [item["text"] for item in items]
    assert texts[0] == "-A KUBE-SVC-X" and items[0]["zh"] == "追加到链 KUBE-SVC-X"
    assert items[0]["en"] == "appends to chain KUBE-SVC-X"
    assert "-d 10.97.139.74/32" in texts and "-p tcp" in texts
    assert "-m tcp --dport 8080" in texts
    assert '-m comment --comment "default/web cluster IP"' in texts
    by_text = {item["text"]: item for item in items}
    assert "destination port is 8080" in by_text["-m tcp --dport 8080"]["en"]
    assert "目的端口为 8080" in by_text["-m tcp --dport 8080"]["zh"]
    probability = by_text["--probability 0.50000000000"]
    assert "probability 1/2 (P=1073741824/2^31)" in probability["en"]
    assert "once per new connection" in probability["en"]
    assert "jumps to chain KUBE-SEP-ABC" in by_text["-j KUBE-SEP-ABC"]["en"]
    # Together the items spell the whole rule, in iptables-save order.
    save = render_save(
        parse_restore(
            f"*nat\n:KUBE-SVC-X - [0:0]\n:KUBE-SEP-ABC - [0:0]\n-A KUBE-SVC-X {spec}\nCOMMIT\n"
        )
    )
    assert " ".join(texts) in save


def test_probability_is_shown_as_the_kernel_stores_it() -> None:
    en, zh = probability_text("0.33333333349", nat=True)
    assert "1/3" in en and "P=715827883/2^31" in en and "1/3" in zh
    en, _ = probability_text("0.25000000000", nat=False)
    assert "1/4" in en and "every packet" in en


@pytest.mark.parametrize(
    ("spec", "text", "en", "zh"),
    [
        ("! -s 10.244.0.0/16 -j ACCEPT", "! -s 10.244.0.0/16", "NOT: source address", "取反"),
        (
            "-m mark ! --mark 0x4000/0x4000 -j RETURN",
            "-m mark ! --mark 0x4000/0x4000",
            "NOT",
            "取反",
        ),
        ("-m addrtype --dst-type LOCAL -j ACCEPT", "-m addrtype --dst-type LOCAL", "LOCAL", "本机"),
        (
            "-m conntrack --ctstate INVALID -j ACCEPT",
            "-m conntrack --ctstate INVALID",
            "INVALID",
            "连接状态",
        ),
        (
            "-j MASQUERADE --random-fully",
            "-j MASQUERADE --random-fully",
            "fully random",
            "完全随机",
        ),
        (
            "-p tcp -j DNAT --to-destination 10.244.1.5:80",
            "-j DNAT --to-destination 10.244.1.5:80",
            "10.244.1.5:80",
            "目的",
        ),
        (
            "-p tcp -j REJECT --reject-with tcp-reset",
            "-j REJECT --reject-with tcp-reset",
            "tcp-reset",
            "回复",
        ),
        (
            "-j MARK --or-mark 0x4000",
            "-j MARK --set-xmark 0x4000/0x4000",
            "turns on the bits 0x4000",
            "置位",
        ),
        (
            "-j MARK --set-xmark 0x1/0xff",
            "-j MARK --set-xmark 0x1/0xff",
            "mark = (mark & ~mask)",
            "掩码",
        ),
        (
            "-m recent --name X --rcheck --seconds 10 -j ACCEPT",
            "--seconds 10",
            "10 seconds",
            "10 秒",
        ),
        ("-g KUBE-X", "-g KUBE-X", "goes to chain KUBE-X", "转到链"),
    ],
)
def test_each_option_says_what_it_does(spec: str, text: str, en: str, zh: str) -> None:
    items = {item["text"]: item for item in _describe(spec)}
    assert en in items[text]["en"] and zh in items[text]["zh"]


_NAT = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SVC-X - [0:0]\n-A KUBE-SVC-X -j ACCEPT\nCOMMIT\n"


@pytest.mark.parametrize(
    ("spec", "wording", "bad"),
    [
        ("-p tcp --dportt 80 -j ACCEPT", 'unknown option "--dportt"', "--dportt"),
        ("-p tcp --dport abc -j ACCEPT", "invalid port/service `abc' specified", "abc"),
        ("-j KUBE-NOPE", "Chain 'KUBE-NOPE' does not exist", "KUBE-NOPE"),
        ("-m nosuch -j ACCEPT", "Couldn't load match `nosuch'", "nosuch"),
        ("bogus", "Bad argument `bogus'", "bogus"),
        ("-j DROP", 'The "nat" table is not intended for filtering', None),
    ],
)
def test_a_bad_spec_gets_iptables_wording_and_the_bad_token(
    spec: str, wording: str, bad: str | None
) -> None:
    ruleset = parse_restore(_NAT)
    check = check_spec(ruleset, "nat", "PREROUTING", "insert", spec)
    assert not check.ok and check.status == 2 and wording in check.message
    assert (check.tokens[check.bad] if check.bad is not None else None) == bad


def test_a_good_spec_shows_its_saved_form_and_changes_nothing() -> None:
    ruleset = parse_restore(_NAT)
    before = render_save(ruleset)
    check = check_spec(ruleset, "nat", "PREROUTING", "append", "-p tcp --dport=8080 -j KUBE-SVC-X")
    assert check.ok and check.saved == "-A PREROUTING -p tcp -m tcp --dport 8080 -j KUBE-SVC-X"
    replaced = check_spec(ruleset, "nat", "KUBE-SVC-X", "replace", "-j RETURN", number=1)
    assert replaced.ok and replaced.saved == "-A KUBE-SVC-X -j RETURN"
    assert render_save(ruleset) == before


def test_kernel_refusals_and_bad_quotes_are_reported_not_raised() -> None:
    ruleset = parse_restore(_NAT)
    refused = check_spec(ruleset, "nat", "PREROUTING", "append", "-p tcp -j REJECT")
    assert refused.status == 4 and "RULE_APPEND failed (Invalid argument)" in refused.message
    too_far = check_spec(ruleset, "nat", "KUBE-SVC-X", "replace", "-j RETURN", number=9)
    assert too_far.status == 1 and "Index of replacement too big" in too_far.message
    assert check_spec(ruleset, "nat", "PREROUTING", "append", '"abc').unclosed
    assert "table 'bogus' does not exist" in check_spec(ruleset, "bogus", "X", "append", "").message
