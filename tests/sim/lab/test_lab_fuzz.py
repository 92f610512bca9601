"""Whatever a learner types or a script sends, the lab answers without a Python exception:
console lines built from real commands' words and from arbitrary text, and API requests."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.sim.lab import Lab, LabError

WORDS = [
    "kubectl", "iptables", "iptables-save", "iptables-restore", "conntrack", "curl", "help",
    "ssh", "history", "clear", "ipvsadm", "nft", "get", "scale", "delete", "label", "lab",
    "set-ready", "svc", "pods", "deployment/my-first-deploy", "--replicas=0", "--replicas=3",
    "pod/my-first-deploy-785c6c79d9-7bgf5", "true", "false", "-t", "nat", "filter", "-L", "-S",
    "-A", "-I", "-D", "-F", "-X", "-N", "-j", "DROP", "REJECT", "ACCEPT", "KUBE-SERVICES",
    "INPUT", "FORWARD", "1", "-n", "-v", "--noflush", "10.97.139.74:8080", "my-first-deploy:8080",
    "--from", "external", "node/node1", "-p", "tcp", "--dport", "8080", "<<EOF", "EOF", "*nat",
    "COMMIT", "'", '"', "|", "\n", "$(", "\x00", "😀", "-m", "statistic",
]  # fmt: skip
INTERNAL = "internal error"
LAB = Lab.new()
DATA = LAB.to_data()


def fresh() -> Lab:
    return Lab.from_data(DATA)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8), max_size=4))
def test_console_lines_from_real_words_never_raise(lines: list[list[str]]) -> None:
    lab = fresh()
    for words in lines:
        res = lab.run(" ".join(words), lang="zh")
        assert INTERNAL not in res.error and "内部错误" not in res.error
        assert isinstance(res.output, str) and isinstance(res.ok, bool)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    res = fresh().run(text)
    assert INTERNAL not in res.error


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(st.sampled_from(["external", "pod/x", "node/node1", "node/", ""]), st.text()),
    st.one_of(st.sampled_from(["10.97.139.74:8080", "svc/my-first-deploy:8080", ":"]), st.text()),
    st.sampled_from(["tcp", "udp", "icmp", ""]),
    st.integers(min_value=-5, max_value=60),
)
def test_requests_raise_only_lab_errors(src: str, dst: str, proto: str, count: int) -> None:
    try:
        out = fresh().request(src, dst, proto, count)
    except LabError as err:
        assert err.text("en") and err.text("zh")
    else:
        assert sum(out["endpoints"].values()) + sum(out["failed"].values()) == count
