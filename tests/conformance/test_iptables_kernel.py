"""kube-proxy's iptables mode against the real kernel: load each sync into a network namespace
the way kube-proxy does (canary chains, `-C`/`-I` jump rules on full syncs, then
`iptables-restore --noflush`) and compare the kernel's `iptables-save` with ours, after every
step of a multi-step case, including the restore the kernel refuses."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.sim.kubeproxy import iptables_fixed as fixed
from app.sim.kubeproxy.iptables import SyncResult, render_restore
from app.sim.kubeproxy.save import render_save
from app.sim.kubeproxy.state import ProxyState
from app.sim.scenarios import SCENARIOS

from .corpus import (
    IPTABLES,
    MISSING_REASON,
    apply_step,
    case_dirs,
    injected_rule,
    load_state,
    load_yaml,
)

TOOLS = ("ip", "iptables", "iptables-restore", "iptables-save", "nfacct")
pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(not IPTABLES.is_dir(), reason=MISSING_REASON),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in TOOLS), reason=f"needs {', '.join(TOOLS)}"
    ),
]


class KernelNode:
    """A network namespace standing in for the node kube-proxy runs on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tool = "iptables"  # ip6tables for an IPv6 proxier
        subprocess.run(["ip", "netns", "add", name], check=True)

    def run(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = ["ip", "netns", "exec", self.name, *argv]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)

    def must(self, *argv: str) -> None:
        done = self.run(*argv)
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"

    def sync(self, result: SyncResult) -> subprocess.CompletedProcess[str]:
        """What kube-proxy does for one sync (the jump rules only on full syncs)."""
        tool = self.tool
        if result.full:
            for table in ("mangle", "nat", "filter"):
                self.run(tool, "-t", table, "-N", fixed.KUBE_PROXY_CANARY)
            for jump in fixed.JUMP_RULES:
                self.run(tool, "-t", jump.table, "-N", jump.target)
                spec = _jump_argv(jump)
                if self.run(tool, "-t", jump.table, "-C", jump.chain, *spec).returncode:
                    self.must(tool, "-t", jump.table, "-I", jump.chain, "1", *spec)
        return self.run(f"{tool}-restore", "--noflush", stdin=result.restore)

    def save(self) -> str:
        text = self.run(f"{self.tool}-save").stdout
        return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def _jump_argv(jump: fixed.JumpRule) -> list[str]:
    argv = jump.extra.split() if jump.extra else []
    if jump.comment:
        argv += ["-m", "comment", "--comment", jump.comment]
    return [*argv, "-j", jump.target]


@pytest.fixture
def node() -> Iterator[KernelNode]:
    kernel = KernelNode(f"kpl-kproxy-{os.getpid()}")
    try:
        for counter in ("ct_state_invalid_dropped_pkts", "localhost_nps_accepted_pkts"):
            kernel.must("nfacct", "add", counter)
        yield kernel
    finally:
        kernel.close()


def _state(case: Path) -> ProxyState:
    return ProxyState.from_dict(load_yaml(case / "cluster.yaml"))


@pytest.mark.parametrize(
    "name", ["01-overall-iptables-rules", "03-bad-ips-loadbalancer-source-ranges"]
)
def test_save_view_matches_kernel(node: KernelNode, name: str) -> None:
    state = _state(IPTABLES / name)
    result = render_restore(state)
    loaded = node.sync(result)
    assert loaded.returncode == 0, loaded.stderr
    assert render_save(state, result) == node.save()


def test_partial_syncs_and_failed_restore_match_kernel(node: KernelNode) -> None:
    """iptables/02: nine syncs; after each the node's tables equal the kernel's, and the
    restore the kernel refuses (a deleted chain still referenced) is refused here too."""
    case = IPTABLES / "02-sync-proxy-rules-repeated"
    state = _state(case)
    steps = load_yaml(case / "cluster.yaml")["steps"]
    result = render_restore(state)
    assert node.sync(result).returncode == 0
    for step in steps[1:]:
        apply_step(state, step)
        rule = injected_rule(step.get("action", ""))
        if rule is not None:
            result.node.add_rule("nat", rule)
            node.must("iptables", "-t", "nat", *rule.split())
        result = render_restore(state, full=False, previous=result)
        loaded = node.sync(result)
        assert (loaded.returncode == 0) == result.applied, loaded.stderr
        if not result.applied:
            assert loaded.returncode == result.exit_status
            assert result.error in loaded.stderr
            result = render_restore(state, full=False, previous=result)
            assert node.sync(result).returncode == 0
        assert render_save(state, result) == node.save(), f"after step {step['step']}"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_lab_scenarios_match_kernel(node: KernelNode, scenario: str) -> None:
    """Each starting cluster of the lab, as kube-proxy on its first node writes it (the real
    mark `0x00004000`, `--random-fully`), shows the same iptables-save as the kernel."""
    cluster = SCENARIOS[scenario].build(0)
    state = ProxyState.from_dict(cluster.to_proxy_dict(sorted(cluster.nodes)[-1]))
    result = render_restore(state)
    loaded = node.sync(result)
    assert loaded.returncode == 0, loaded.stderr
    assert render_save(state, result) == node.save()


@pytest.mark.parametrize("case", case_dirs("cluster.yaml"), ids=lambda p: p.name)
def test_every_corpus_sync_loads_into_the_kernel(node: KernelNode, case: Path) -> None:
    """The kernel accepts each case's restore input as it is (IPv6 ones with ip6tables), and
    for IPv4 its iptables-save equals ours."""
    state = load_state(case)
    ipv6 = state.options.ipv6
    node.tool = "ip6tables" if ipv6 else "iptables"
    result = render_restore(state)
    loaded = node.sync(result)
    assert loaded.returncode == 0, loaded.stderr
    if ipv6:
        return
    assert render_save(state, result) == node.save()
