"""Questions the engine poses and grades itself: from a seeded lab (scenario, mode, a random
scale) it computes the one right answer, so practice never runs out and every answer key is
correct by construction. `generate(kind, seed)` and `grade(question, answer)`; a question
carries only its kind and seed, and grading rebuilds it.

Each kind is a function seed -> `Generated`; `KINDS` is the registry.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from app.sim.ipvs.director import Ipvs
from app.sim.lab import Lab
from app.sim.lab.traffic import plan
from app.sim.netfilter.branches import Branch
from app.sim.netfilter.engine import explore_branches
from app.sim.netfilter.packet_input import parse_packet_json

Text = dict[str, str]
SCENARIOS = ("seed", "multi-node", "readiness", "traffic-policy-local")
PROBABILITY = re.compile(r"--probability (\S+)")


@dataclass(frozen=True)
class Generated:
    """A posed question: `type` single/multiple/fill; `choices` plain strings (the same in
    both languages: addresses, chain names, numbers); `correct` indexes, or `answers` for
    fill-in."""

    kind: str
    seed: int
    type: str
    topic: str
    prompt: Text
    explain: Text
    choices: tuple[str, ...] = ()
    correct: frozenset[int] = frozenset()
    answers: tuple[str, ...] = ()
    context: str = ""  # console text shown beside the question (rules, ipvsadm output)
    extra: dict[str, str] = field(default_factory=dict)


def _lab(seed: int, mode: str = "iptables") -> tuple[Lab, dict, random.Random]:
    """A lab from a scenario picked by `seed`, its first Service scaled to 1-4 replicas."""
    rng = random.Random(f"quiz/{seed}")
    lab = Lab.new(rng.choice(SCENARIOS), mode, seed)
    svc = lab.summary()["services"][0]
    replicas = rng.randint(1, 4)
    deploy = svc["selector"]["app"]
    lab.run(f"kubectl scale deployment {deploy} --replicas={replicas}")
    return lab, lab.summary()["services"][0], rng


def _branches(lab: Lab, src: str, dst: str) -> tuple[list[Branch], str]:
    planned = plan(lab, src, dst, "tcp")
    world = lab.nodes[planned.node]
    parsed = parse_packet_json(dict(planned.packet, sport=40000))
    found = explore_branches(
        world.ruleset,
        parsed.packet,
        world.kernel_node(),
        world.conntrack,
        clock=lab.clock,
        origin=parsed.origin,
        in_iface=parsed.in_iface,
    )
    return found, planned.node


def _client(lab: Lab, svc: dict, rng: random.Random) -> tuple[str, str]:
    """Where the request comes from: outside the cluster, or a node (for NodePort)."""
    port = svc["ports"][0]
    if svc["type"] == "ClusterIP":
        node = rng.choice([n["name"] for n in lab.summary()["nodes"]])
        return f"node/{node}", f"svc/{svc['name']}:{port['port']}"
    return "external", f"node/{lab.default_node()}:{port['nodePort']}"


def _pod_endpoints(lab: Lab, svc: dict, branches: list[Branch]) -> list[str]:
    ports = {b.dnat_to.rsplit(":", 1)[1] for b in branches if b.dnat_to}
    port = next(iter(ports), str(svc["ports"][0]["targetPort"]))
    pods = [p for p in lab.summary()["pods"] if p["labels"].get("app") == svc["selector"]["app"]]
    return sorted(f"{p['ip']}:{port}" for p in pods if p["ip"])


def reach(seed: int) -> Generated:
    """Which endpoints can this request reach? (every -m statistic path, explore_branches)"""
    lab, svc, rng = _lab(seed)
    src, dst = _client(lab, svc, rng)
    branches, node = _branches(lab, src, dst)
    reached = {b.dnat_to for b in branches if b.dnat_to}
    choices = [*_pod_endpoints(lab, svc, branches), "-"]
    correct = {i for i, c in enumerate(choices) if c in reached} or {len(choices) - 1}
    where = f"{src} -> {dst} ({node})"
    return Generated(
        "reach",
        seed,
        "multiple",
        "service",
        {
            "zh": f"{where}：这个新连接可能到达哪些 endpoint？（全选；都到不了选 -）",
            "en": f"{where}: which endpoints can this new connection reach? "
            "(all that apply; - for none)",
        },
        {
            "zh": "只有就绪的 endpoint 有 KUBE-SEP 链；Local 策略只用本节点的 endpoint。",
            "en": "Only ready endpoints get a KUBE-SEP chain; a Local policy only uses the "
            "node's own endpoints.",
        },
        tuple(choices),
        frozenset(correct),
        context=lab.run("kubectl get pods -o wide").output,
    )


def _svc_chain(lab: Lab, svc: dict) -> tuple[str, list[str]] | None:
    """The KUBE-SVC chain of the Service's first port on the default node, and its rules."""
    nat = lab.ruleset(lab.default_node()).tables["nat"]
    marker = f"{svc['namespace']}/{svc['name']}"
    for name, chain in nat.chains.items():
        texts = [r.raw for r in chain.rules]
        if name.startswith("KUBE-SVC-") and any(marker in t and "-> " in t for t in texts):
            return name, [t for t in texts if "-j KUBE-SEP-" in t]
    return None


def probability(seed: int) -> Generated:
    """What probability does the k-th endpoint rule of KUBE-SVC-… carry?"""
    lab, svc, rng = _lab(seed)
    found = _svc_chain(lab, svc)
    while found is None or not found[1]:
        lab.run(f"kubectl scale deployment {svc['selector']['app']} --replicas=3")
        found = _svc_chain(lab, svc)
    chain, rules = found
    k = rng.randint(1, len(rules))
    values = [(PROBABILITY.search(t) or [None, "none"])[1] for t in rules]
    # Decoys in kube-proxy's own spelling (%0.10f): 1/m for a few m, and the plain 1/n.
    decoys = {f"{1 / m:0.10f}" for m in range(2, 6)}
    choices = sorted({*values, *decoys, "none"})
    answer = values[k - 1]
    return Generated(
        "probability",
        seed,
        "single",
        "modes",
        {
            "zh": f"{chain}（{len(rules)} 个 endpoint）中第 {k} 条跳到 KUBE-SEP 的规则，"
            "-m statistic 的 --probability 是多少？（没有该匹配选 none）",
            "en": f"In {chain} ({len(rules)} endpoints), what --probability does the "
            f"statistic match of jump rule {k} to a KUBE-SEP chain carry? (none if it has none)",
        },
        {
            "zh": "第 i 条（共 n 条）的概率是 1/(n-i+1)，最后一条没有 statistic，承接剩下的全部。",
            "en": "Rule i of n carries 1/(n-i+1); the last has no statistic match and takes "
            "whatever is left.",
        },
        tuple(choices),
        frozenset({choices.index(answer)}),
        context="\n".join(rules),
    )


def _first_branch(lab: Lab, svc: dict, rng: random.Random) -> tuple[Branch, str, str]:
    src, dst = _client(lab, svc, rng)
    branches, node = _branches(lab, src, dst)
    return branches[0], f"{src} -> {dst} ({node})", node


def next_chain(seed: int) -> Generated:
    """Which chain does KUBE-SERVICES (or KUBE-NODEPORTS) jump to next?"""
    lab, svc, rng = _lab(seed)
    branch, where, node = _first_branch(lab, svc, rng)
    steps = branch.trace.steps
    at = next(i for i, s in enumerate(steps) if s.table == "nat" and s.chain == "KUBE-SERVICES")
    hop = next(s for s in steps[at:] if s.chain == "KUBE-SERVICES" and s.matched)
    target = steps[steps.index(hop) + 1].chain
    nat = lab.ruleset(node).tables["nat"]
    kube = sorted(n for n in nat.chains if n.startswith(("KUBE-SVC-", "KUBE-EXT-", "KUBE-NODE")))
    choices = sorted({target, *kube[:7], "KUBE-MARK-MASQ", "KUBE-POSTROUTING"})
    # Odd seeds ask the learner to type the chain's name; even ones offer choices.
    return Generated(
        "next-chain",
        seed,
        "fill" if seed % 2 else "single",
        "tables-chains",
        {
            "zh": f"{where}：首包在 nat 表 KUBE-SERVICES 中匹配后，跳到哪条链？（写出链名）",
            "en": f"{where}: the first packet matches in the nat table's KUBE-SERVICES. "
            "Which chain does it jump to? (its name)",
        },
        {
            "zh": "ClusterIP 规则跳 KUBE-SVC-（或外部流量的 KUBE-EXT-），NodePort 走最后一条 "
            "KUBE-NODEPORTS。",
            "en": "A ClusterIP rule jumps to KUBE-SVC- (KUBE-EXT- for external traffic); "
            "NodePorts go through the last rule, to KUBE-NODEPORTS.",
        },
        tuple(choices),
        frozenset({choices.index(target)}),
        answers=(target,),
        context=lab.rules(node, "save").split("*filter")[0][-3000:],
    )


def walk_count(seed: int) -> Generated:
    """How many rules does a new connection's first packet walk (all tables, all hooks)?"""
    lab, svc, rng = _lab(seed)
    branch, where, _node = _first_branch(lab, svc, rng)
    count = branch.trace.rules_evaluated
    offsets = rng.sample([-6, -4, -3, -2, 2, 3, 5, 8], 3)
    choices = sorted({count, *(max(1, count + d) for d in offsets)})
    labels = tuple(str(c) for c in choices)
    endpoint = branch.dnat_to or "-"
    return Generated(
        "walk-count",
        seed,
        "single",
        "tables-chains",
        {
            "zh": f"{where}：新连接的首包去往 {endpoint}，它一共和多少条规则做了比较"
            "（所有 hook、所有表，含不匹配的）？",
            "en": f"{where}: a new connection's first packet goes to {endpoint}. How many "
            "rules are compared with it in all (every hook and table, non-matching ones too)?",
        },
        {
            "zh": "iptables 线性匹配：KUBE-SERVICES 中排在前面的每条规则都要比较一次。",
            "en": "iptables matches linearly: every rule before the hit in KUBE-SERVICES is "
            "compared once.",
        },
        labels,
        frozenset({labels.index(str(count))}),
    )


def ipvs_scale(seed: int) -> Generated:
    """After a scale, how many real servers does `ipvsadm -Ln` list under the ClusterIP?"""
    lab, svc, rng = _lab(seed, "ipvs")
    replicas = rng.randint(1, 5)
    lab.run(f"kubectl scale deployment {svc['selector']['app']} --replicas={replicas}")
    listing = lab.run("ipvsadm -Ln").output
    vip = f"{svc['clusterIP']}:{svc['ports'][0]['port']}"
    count = _real_servers(listing, vip)
    choices = tuple(str(n) for n in range(0, 7))
    return Generated(
        "ipvs-scale",
        seed,
        "single",
        "ipvs",
        {
            "zh": f"IPVS 模式：kubectl scale deployment {svc['selector']['app']} "
            f"--replicas={replicas} 之后，ipvsadm -Ln 在 TCP {vip} 下列出几个真实服务器？",
            "en": f"IPVS mode: after kubectl scale deployment {svc['selector']['app']} "
            f"--replicas={replicas}, how many real servers does ipvsadm -Ln list under "
            f"TCP {vip}?",
        },
        {
            "zh": "每个就绪 endpoint 一个真实服务器（权重 1）；未就绪的 Pod 不在其中。",
            "en": "One real server (weight 1) per ready endpoint; pods that are not ready are "
            "left out.",
        },
        choices,
        frozenset({count}),
        context=listing,
    )


def _real_servers(listing: str, vip: str) -> int:
    """Count the `->` lines under the virtual server `vip` in `ipvsadm -Ln` output."""
    count, inside = 0, False
    for line in listing.splitlines():
        if line.startswith(("TCP", "UDP", "SCTP")):
            inside = line.split()[1] == vip
        elif inside and line.strip().startswith("->") and "RemoteAddress" not in line:
            count += 1
    return count


def sh_pick(seed: int) -> Generated:
    """Which backend does the `sh` scheduler pick for a client? (app/sim/ipvs, ip_vs_sh.c)"""
    rng = random.Random(f"quiz-sh/{seed}")
    client = f"10.0.{rng.randint(0, 3)}.{rng.randint(2, 250)}"
    backends = sorted({f"10.244.{rng.randint(1, 3)}.{rng.randint(2, 60)}" for _ in range(4)})
    director = Ipvs()
    svc = director.add_service("TCP", "10.96.0.10", 80, "sh")
    for addr in backends:
        director.add_dest(svc, addr, 8080)
    decision = director.process("TCP", client, 40000, "10.96.0.10", 80)
    picked = decision.dest.addr if decision.dest else "-"
    choices = (*backends, "-")
    return Generated(
        "sh-pick",
        seed,
        "single",
        "ipvs",
        {
            "zh": f"ipvsadm -A -t 10.96.0.10:80 -s sh，真实服务器依次为 {', '.join(backends)}"
            f"（端口 8080，权重 1）。客户端 {client} 的新连接分给谁？",
            "en": f"ipvsadm -A -t 10.96.0.10:80 -s sh with real servers {', '.join(backends)} "
            f"(port 8080, weight 1) added in that order. Which one gets client {client}?",
        },
        {
            "zh": "sh 用源地址哈希查 256 个桶（ip_vs_sh.c），桶按真实服务器加入顺序轮流填充。",
            "en": "sh hashes the source address into 256 buckets (ip_vs_sh.c), filled with the "
            "real servers in the order they were added.",
        },
        choices,
        frozenset({choices.index(picked)}),
    )


def rejected(seed: int) -> Generated:
    """A Service scaled to 0: which table and chain refuse a new connection?"""
    lab, svc, rng = _lab(seed)
    lab.run(f"kubectl scale deployment {svc['selector']['app']} --replicas=0")
    src, dst = _client(lab, svc, rng)
    branches, node = _branches(lab, src, dst)
    stop = next(s for s in branches[0].trace.steps if s.verdict in ("DROP", "REJECT"))
    answer = f"{stop.table} {stop.chain} ({stop.verdict})"
    decoys = {
        "nat KUBE-SERVICES (DROP)",
        "filter KUBE-FORWARD (DROP)",
        "nat KUBE-POSTROUTING (REJECT)",
        "filter KUBE-SERVICES (REJECT)",
        "filter KUBE-EXTERNAL-SERVICES (REJECT)",
    }
    choices = tuple(sorted({answer, *decoys}))
    return Generated(
        "rejected",
        seed,
        "single",
        "troubleshooting",
        {
            "zh": f"kubectl scale deployment {svc['selector']['app']} --replicas=0 之后，"
            f"{src} -> {dst}（{node}）的新连接在哪个表的哪条链被拒绝或丢弃？",
            "en": f"After kubectl scale deployment {svc['selector']['app']} --replicas=0, "
            f"where is a new connection {src} -> {dst} ({node}) refused or dropped?",
        },
        {
            "zh": "没有 endpoint 的 Service：kube-proxy 在 filter 表写 REJECT（外部地址在 "
            "KUBE-EXTERNAL-SERVICES，ClusterIP 在 KUBE-SERVICES）。",
            "en": "A Service without endpoints gets a REJECT in the filter table "
            "(KUBE-EXTERNAL-SERVICES for external addresses, KUBE-SERVICES for the ClusterIP).",
        },
        choices,
        frozenset({choices.index(answer)}),
    )


KINDS: dict[str, Callable[[int], Generated]] = {
    "reach": reach,
    "probability": probability,
    "next-chain": next_chain,
    "walk-count": walk_count,
    "ipvs-scale": ipvs_scale,
    "sh-pick": sh_pick,
    "rejected": rejected,
}


def generate(kind: str, seed: int) -> Generated:
    """The question `kind` poses for `seed` (KeyError for an unknown kind)."""
    return KINDS[kind](seed)
