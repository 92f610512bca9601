"""Fixtures of the kernel suite: real netfilter in throw-away network namespaces.

Every test here is marked `kernel`. It runs when the process is root and `ip`,
`iptables-restore`, `xtables-monitor`, `conntrack` and `nft` are installed (true in CI), and
is skipped with the missing piece named otherwise. `pytest -m "not kernel"` leaves it out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from .harness import NodeConfig, Topology, cleanup_leftovers

TOOLS = ("ip", "iptables-restore", "iptables", "xtables-monitor", "conntrack", "nft", "stdbuf")


def kernel_unavailable() -> str | None:
    """Why the kernel tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "kernel tests need root (network namespaces, iptables)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return "kernel tests need these tools: " + ", ".join(missing)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    reason = kernel_unavailable()
    for item in items:
        if str(item.path).startswith(here + os.sep):
            item.add_marker(pytest.mark.kernel)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers() -> Iterator[None]:
    """Remove namespaces of earlier runs that were killed before they could clean up."""
    if kernel_unavailable() is None:
        cleanup_leftovers()
    yield


TopologyFactory = Callable[..., Topology]


@pytest.fixture
def kernel() -> Iterator[TopologyFactory]:
    """`kernel(ruleset, node=NodeConfig(...))` -> a built Topology, closed after the test."""
    reason = kernel_unavailable()
    if reason:
        pytest.skip(reason)
    opened: list[Topology] = []

    def factory(
        ruleset: str | None = None, node: NodeConfig | None = None, **kw: object
    ) -> Topology:
        topo = Topology(ruleset, node, **kw)  # type: ignore[arg-type]
        opened.append(topo)
        return topo.__enter__()

    yield factory
    for topo in opened:
        topo.close()
