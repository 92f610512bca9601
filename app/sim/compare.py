"""The four kube-proxy modes side by side: one request traced in each (`compare_modes`) and
what each mode costs as the cluster grows (`scale_study`), measured by running the real
renderers and engines, not by formulas.

`scale_study` answers two questions per mode and cluster size:
* `rules_evaluated`: rules the kernel tests for the first packet of a new connection to a
  Service (the trace's `rules_evaluated`: iptables walks KUBE-SERVICES rule by rule, IPVS
  and nftables find the Service with one set / map lookup, userspace walks its portal chain);
* `rules_rewritten`: what a sync writes when one endpoint of one Service goes away
  (iptables: `-A` lines of the partial restore; IPVS: real servers and ipset entries changed
  plus the iptables lines it restores; nftables: the transaction's operations; userspace:
  portal rules changed -- none, endpoints live in the proxy process).

The points are read from `app/sim/data/scale_study.json`, written by
`python -m app.sim.compare --write` (the 10,000-Service point takes about a minute); a size
not in the file is measured on demand (up to ON_DEMAND_UP_TO) and kept in-process. A test
checks the file against fresh measurements of the small sizes.
"""

from __future__ import annotations

import json
import random
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.sim.cluster import ClusterError
from app.sim.cluster.addressing import request as cluster_request
from app.sim.conntrack import Conntrack
from app.sim.kubeproxy.iptables import render_restore
from app.sim.kubeproxy.ipvs import IpvsOptions, render_ipvs
from app.sim.kubeproxy.ipvs_trace import trace_sync_json as ipvs_trace_json
from app.sim.kubeproxy.nftables import render_nftables
from app.sim.kubeproxy.nftables_trace import trace_sync_json as nft_trace_json
from app.sim.kubeproxy.save import save_ruleset
from app.sim.kubeproxy.state import ProxyState
from app.sim.kubeproxy.userspace import JUMPS, render_userspace
from app.sim.lab.lab import Lab
from app.sim.lab.modes import MODES
from app.sim.lab.result import LabError
from app.sim.netfilter.engine import trace_packet
from app.sim.netfilter.packet_input import parse_packet_json
from app.sim.netfilter.parse import parse_restore
from app.sim.scenarios import SCENARIOS, build, random_cluster

MODE_ORDER = ("iptables", "ipvs", "nftables", "userspace")
DATA_FILE = Path(__file__).parent / "data" / "scale_study.json"
ON_DEMAND_UP_TO = 100
DEFAULT_SIZES = (10, 100, 1000, 10000)

TITLES = {
    "iptables": {"en": "iptables", "zh": "iptables"},
    "ipvs": {"en": "IPVS", "zh": "IPVS"},
    "nftables": {"en": "nftables", "zh": "nftables"},
    "userspace": {"en": "userspace (historical)", "zh": "userspace(历史)"},
}
STRUCTURES = {
    "iptables": {
        "en": "linear chain walk: KUBE-SERVICES is tested rule by rule, then a ladder of "
        "random-probability rules picks the endpoint",
        "zh": "线性遍历链:逐条测试 KUBE-SERVICES,再由一串随机概率规则选出端点",
    },
    "ipvs": {
        "en": "hash lookup + scheduler: an ipset match, then the IPVS virtual server table "
        "and its scheduler pick the real server",
        "zh": "哈希查找 + 调度器:ipset 匹配,再由 IPVS 虚拟服务表及其调度器选出真实服务器",
    },
    "nftables": {
        "en": "verdict map: one lookup in the service-ips map, then numgen picks the endpoint",
        "zh": "判决映射:在 service-ips 映射中查找一次,再由 numgen 选出端点",
    },
    "userspace": {
        "en": "proxy process: a portal rule hands the connection to kube-proxy itself, which "
        "picks by round robin and dials the endpoint (removed in Kubernetes v1.26)",
        "zh": "代理进程:入口规则把连接交给 kube-proxy 进程,由它轮询选出端点并发起连接"
        "(Kubernetes v1.26 已移除)",
    },
}


# -- one request, four modes -----------------------------------------------------------


def default_request(scenario: str, seed: int) -> tuple[str, str]:
    """A pod of the scenario asking its first Service with a cluster IP."""
    cluster = build(scenario, seed)
    pods = sorted((p for p in cluster.pods.values() if p.phase == "Running"), key=lambda p: p.name)
    services = sorted(
        (s for s in cluster.services.values() if s.cluster_ip not in ("", "None") and s.ports),
        key=lambda s: (s.meta.namespace != "default", s.name),
    )
    if not pods or not services:
        raise LabError(
            {"en": "the scenario has no pod or Service", "zh": "该场景没有 Pod 或 Service"}
        )
    return f"pod/{pods[0].name}", f"svc/{services[0].name}:{services[0].ports[0].port}"


def compare_modes(
    scenario: str = "seed", seed: int = 1, src: str | None = None, dst: str | None = None
) -> dict[str, Any]:
    """One request from `src` to `dst` traced on a fresh lab in each mode. Raises LabError
    for an unknown scenario or a request the cluster cannot resolve."""
    if scenario not in SCENARIOS:
        raise LabError({"en": f"unknown scenario {scenario!r}", "zh": f"未知的场景 {scenario!r}"})
    if src is None or dst is None:
        src, dst = default_request(scenario, seed)
    columns = [_column(mode, scenario, seed, src, dst) for mode in MODE_ORDER]
    return {"scenario": scenario, "seed": seed, "src": src, "dst": dst, "modes": columns}


def _column(mode: str, scenario: str, seed: int, src: str, dst: str) -> dict[str, Any]:
    trace = _trace(mode, scenario, seed, src, dst)
    steps = trace["steps"]
    return {
        "mode": mode,
        "title": TITLES[mode],
        "historical": mode == "userspace",
        "structure": STRUCTURES[mode],
        "trace": trace,
        "steps": len(steps),
        "matched_steps": sum(1 for s in steps if s["matched"]),
        "rules_evaluated": trace["rules_evaluated"],
        "endpoint": trace.get("endpoint") or _endpoint(trace),
        "pod": trace.get("pod"),
        "decision": _decision(steps),
    }


def _trace(mode: str, scenario: str, seed: int, src: str, dst: str) -> dict[str, Any]:
    if mode in MODES:
        lab = Lab.new(scenario, mode, seed)
        return lab.request(src, dst)["traces"][0]
    # nftables before the lab runs it: the renderer's table walked by the nftables engine.
    cluster = build(scenario, seed)
    try:
        req = cluster_request(cluster, src, dst)
    except ClusterError as err:
        raise LabError(err.message.strip()) from None
    sync = render_nftables(ProxyState.from_dict(_nft_input(cluster.to_proxy_dict(req.node))))
    data = nft_trace_json(sync, req.packet, seed=seed)
    data |= {"node": req.node, "endpoint": _endpoint(data), "pod": None, "request": req.packet}
    return data


def _nft_input(data: dict[str, Any]) -> dict[str, Any]:
    return data | {"mode": "nftables"}


def _endpoint(trace: dict[str, Any]) -> str | None:
    final = trace.get("final") or {}
    if final.get("delivered") != "out":
        return None
    packet = final["packet"]
    return f"{packet['dst']}:{packet['dport']}"


def _decision(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The step that chose the endpoint: DNAT, the IPVS director or the proxy process."""
    for step in steps:
        if step["kind"] in ("ipvs", "proxy"):
            return step
    nat = [s for s in steps if s["matched"] and s["verdict"] == "DNAT"]
    return nat[-1] if nat else None


# -- how the modes scale ----------------------------------------------------------------


def scale_study(sizes: tuple[int, ...] = DEFAULT_SIZES) -> dict[str, Any]:
    """Per mode, per size: rules evaluated per new connection, rules rewritten per endpoint
    change: from DATA_FILE, else measured now (small sizes only) and cached."""
    stored = _stored()
    points = []
    for n in sizes:
        if str(n) in stored:
            points.append(stored[str(n)])
        elif n <= ON_DEMAND_UP_TO:
            points.append(measure(n))
    return {"sizes": [p["services"] for p in points], "points": points, "modes": MODE_ORDER}


@lru_cache(maxsize=1)
def _stored() -> dict[str, Any]:
    try:
        return json.loads(DATA_FILE.read_text())["points"]
    except (OSError, ValueError, KeyError):
        return {}


@lru_cache(maxsize=8)
def measure(services: int, seed: int = 7) -> dict[str, Any]:
    """One cluster of `services` Services (3 endpoints each): every mode syncs, the middle
    Service is asked, then loses an endpoint and every mode syncs again (a partial sync
    where the mode has one: the state keeps its change journal)."""
    cluster = random_cluster(seed, services=services)
    target = cluster.services[("default", f"svc-{services // 2:05d}")]
    dst = f"{target.cluster_ip}:{target.ports[0].port}"
    req = cluster_request(cluster, "node/" + _worker(cluster), dst)
    data = cluster.to_proxy_dict(req.node)
    evaluated, rewritten = _costs(data, req.packet, target.name)
    out: dict[str, Any] = {"services": services}
    for mode in MODE_ORDER:
        out[mode] = {"rules_evaluated": evaluated[mode], "rules_rewritten": rewritten[mode]}
    return out


def _costs(
    data: dict[str, Any], packet: dict[str, Any], name: str
) -> tuple[dict[str, int], dict[str, int]]:
    """Sync every mode, trace `packet`; drop one endpoint of Service `name`, sync again."""
    state, options = ProxyState.from_dict(data), IpvsOptions.from_dict(data)
    ipt, ipvs = render_restore(state, full=True), render_ipvs(state, options)
    nft, user = render_nftables(state), render_userspace(state)
    evaluated = {
        "iptables": _walk(save_ruleset(ipt), packet),
        "ipvs": ipvs_trace_json(ipvs, packet)["rules_evaluated"],
        "nftables": nft_trace_json(nft, packet)["rules_evaluated"],
        "userspace": _walk(parse_restore(_with_jumps(user.restore)), packet),
    }
    ipvs_objects = _ipvs_objects(ipvs)
    _drop_one_endpoint(state, data, f"default/{name}")
    ipt2 = render_restore(state, full=False, previous=ipt, now=1.0)
    ipvs2 = render_ipvs(state, options, previous=ipvs.ipvs)
    nft2 = render_nftables(state, previous=nft, now=1.0)
    user2 = render_userspace(state, previous=user.ports())
    rewritten = {
        "iptables": len([x for x in ipt2.restore.splitlines() if x.startswith("-A ")]),
        # IPVS restores its (constant) iptables rules on every sync, plus the objects changed
        "ipvs": len(_appended(ipvs2.restore)) + len(ipvs_objects ^ _ipvs_objects(ipvs2)),
        "nftables": nft2.operations,
        "userspace": len(_appended(user.restore) ^ _appended(user2.restore)),
    }
    return evaluated, rewritten


def _ipvs_objects(sync: Any) -> set[tuple[Any, ...]]:
    """Real servers (with their weight) and ipset entries: what an IPVS sync programs."""
    dests = {
        (svc.protocol, svc.addr, svc.port, d.addr, d.port, d.weight)
        for svc in sync.ipvs.services.values()
        for d in svc.dests
    }
    return dests | {(name, *entry) for name, s in sync.node_ipsets().items() for entry in s}


def _worker(cluster: Any) -> str:
    return sorted(n for n, node in cluster.nodes.items() if not node.control_plane)[0]


def _drop_one_endpoint(state: ProxyState, data: dict[str, Any], service: str) -> None:
    for eps in data["endpointSlices"]:
        owner = f"{eps.get('namespace', 'default')}/{eps.get('service', '')}"
        if owner == service and eps.get("endpoints"):
            state.set_endpoint_slice(eps | {"endpoints": eps["endpoints"][1:]})
            return
    raise ValueError(f"no endpoint slice for {service}")


def _walk(ruleset: Any, packet: dict[str, Any]) -> int:
    request = parse_packet_json(packet)
    trace = trace_packet(
        ruleset, request.packet, request.node, Conntrack(), random.Random(0),
        origin=request.origin, in_iface=request.in_iface,
    )  # fmt: skip
    return trace.rules_evaluated


def _appended(text: str) -> set[str]:
    return {line for line in text.splitlines() if line.startswith("-A ")}


def _with_jumps(restore: str) -> str:
    """The portal chains plus the builtin chains' jumps (what the node holds after a sync)."""
    out = []
    for block in restore.split("COMMIT\n"):
        if not block.strip():
            continue
        table = block.split("\n", 1)[0][1:]
        chains = sorted({chain for t, chain, _a, _f in JUMPS if t == table})
        jumps = [f"-A {chain} {args}\n" for t, chain, args, _first in JUMPS if t == table]
        declared = "".join(f":{c} ACCEPT [0:0]\n" for c in chains)
        out.append(block + declared + "".join(jumps) + "COMMIT\n")
    return "".join(out)


def write_data(sizes: tuple[int, ...] = DEFAULT_SIZES) -> dict[str, Any]:
    """Measure every size and store the result in DATA_FILE (the page's large points)."""
    points = {str(n): measure(n) for n in sizes}
    DATA_FILE.write_text(json.dumps({"points": points}, indent=1, sort_keys=True) + "\n")
    return points


if __name__ == "__main__":  # python -m app.sim.compare --write
    if sys.argv[1:] == ["--write"]:
        print(json.dumps(write_data(), indent=1))
    else:
        print(json.dumps(compare_modes(), indent=1)[:2000])
