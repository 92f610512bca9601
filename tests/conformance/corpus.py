"""Reading the kube-proxy conformance corpus (`../shared/conformance/kube-proxy/`).

The corpus is data transcribed from the upstream kube-proxy unit tests (see its README); this
module finds its case directories and applies a case's step actions to a `ProxyState`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from app.sim.kubeproxy.state import ProxyState

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "conformance" / "kube-proxy"
IPTABLES = CORPUS / "iptables"
MISSING_REASON = f"kube-proxy conformance corpus not found at {CORPUS}"


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def case_dirs(kind: str) -> list[Path]:
    """iptables case directories that hold an expectation file named `kind`."""
    if not IPTABLES.is_dir():
        return []
    return sorted(d for d in IPTABLES.iterdir() if (d / kind).exists())


def expand_generators(cluster: dict[str, Any]) -> dict[str, Any]:
    """Replace `endpointsGenerator` prose ("499 endpoints, i = 0..498, address
    '10.0.{i%256}.{i//256}', ...") by the endpoints it describes."""
    for eps in cluster.get("endpointSlices") or ():
        prose = eps.pop("endpointsGenerator", None)
        if prose is None:
            continue
        found = re.search(r"i = 0\.\.(\d+), address '([^']+)'", prose)
        assert found, f"cannot read endpoints generator {prose!r}"
        last, template = int(found[1]), found[2]
        eps["endpoints"] = [
            {
                "addresses": [
                    template.replace("{i%256}", str(i % 256)).replace("{i//256}", str(i // 256))
                ]
            }
            for i in range(last + 1)
        ]
    return cluster


def load_state(case: Path) -> ProxyState:
    return ProxyState.from_dict(expand_generators(load_yaml(case / "cluster.yaml")))


def apply_step(state: ProxyState, step: dict[str, Any]) -> None:
    """Apply the structured changes of one `steps:` entry of cluster.yaml."""
    state.apply_changes(step)


def apply_prose(state: ProxyState, after: str) -> None:
    """Apply a packet-flow step's `after:` prose ("delete EndpointSlice ns1/svc1-1 and sync
    again", "delete Service ns1/svc1 ..."); "initial sync" changes nothing."""
    if after == "initial sync":
        return
    found = re.fullmatch(r"delete (EndpointSlice|Service) (\S+) and sync again", after)
    assert found, f"unknown step action {after!r}"
    if found[1] == "Service":
        state.delete_service(found[2])
    else:
        state.delete_endpoint_slice(found[2])


def injected_rule(action: str) -> str | None:
    """The rule a step says the test injected into the node ("injects a bogus rule '-A ...'")."""
    found = re.search(r"injects a bogus rule '(-A [^']+)'", action)
    return found[1] if found else None
