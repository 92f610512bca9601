"""The course chapter's flow through the real console script: `kube-proxy-lab trace` on
kube-proxy's rules for my-first-deploy walks PREROUTING -> KUBE-SERVICES -> KUBE-SVC-… ->
KUBE-SEP-…, as a learner running it in a shell would see it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RULES = Path(__file__).parent / "seed_rules.txt"
PACKET = {
    "origin": "external",
    "src": "192.168.49.100",
    "dst": "10.97.139.74",
    "proto": "tcp",
    "sport": 40000,
    "dport": 8080,
}


def _trace(*extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["trace", "--ruleset", str(RULES), "--packet", json.dumps(PACKET), *extra]
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *argv], capture_output=True, text=True, check=False
    )


def test_json_walks_the_seed_chain_sequence() -> None:
    done = _trace("--json", "--matched-only")
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)["steps"]
    chains = [s["chain"] for s in steps if s["table"] == "nat" and s["hook"] == "PREROUTING"]
    walk = list(dict.fromkeys(chains))  # first visit of each chain, in order
    assert walk[:3] == ["PREROUTING", "KUBE-SERVICES", "KUBE-SVC-LEWV22JC7A7AWNM2"]
    assert walk[-1].startswith("KUBE-SEP-")
    dnat = next(s for s in steps if s["verdict"] == "DNAT")
    assert dnat["packet"]["dst"] in ("10.244.1.137", "10.244.1.138")


def test_table_output_names_the_chains_and_the_dnat() -> None:
    done = _trace("--matched-only")
    assert done.returncode == 0, done.stderr
    for word in ("PREROUTING", "KUBE-SERVICES", "KUBE-SVC-LEWV22JC7A7AWNM2", "KUBE-SEP-", "DNAT"):
        assert word in done.stdout
