"""The share of requests each endpoint should get, as the engine computes it by walking every
branch of the `-m statistic` cascade: the load chart's expected markers and the classroom's answer
options. Nothing here decides about packets: it asks `explore_branches` on the node's rules, as
the lab would send the packet.
"""

from __future__ import annotations

from app.sim.conntrack import Conntrack
from app.sim.lab.lab import Lab
from app.sim.lab.traffic import plan
from app.sim.netfilter.branches import endpoint_shares
from app.sim.netfilter.engine import explore_branches
from app.sim.netfilter.packet_input import parse_packet_json

PROBE_PORT = 40000  # any source port: the cascade does not look at it


def expected_shares(lab: Lab, src: str, dst: str, proto: str) -> dict[str, float]:
    """ "IP:PORT" -> probability for every DNAT destination a new connection can reach."""
    planned = plan(lab, src, dst, proto)
    world = lab.nodes[planned.node]
    parsed = parse_packet_json(dict(planned.packet, sport=PROBE_PORT))
    branches = explore_branches(
        world.ruleset,
        parsed.packet,
        world.kernel_node(),
        Conntrack(),
        clock=lab.clock,
        origin=parsed.origin,
        in_iface=parsed.in_iface,
        matched_only=True,
    )
    return {str(k): float(v) for k, v in endpoint_shares(branches).items() if k is not None}
