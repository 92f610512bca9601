"""The IPVS schedulers, one module each, registered by their kernel names (`ip_vs_<name>.ko`,
the spelling `ipvsadm -s` takes)."""

from __future__ import annotations

from app.sim.ipvs.schedulers.base import Pick, Request, Scheduler
from app.sim.ipvs.schedulers.dh import DestinationHashing
from app.sim.ipvs.schedulers.fo import WeightedFailover
from app.sim.ipvs.schedulers.lblc import LocalityLeastConnection
from app.sim.ipvs.schedulers.lblcr import LocalityReplication
from app.sim.ipvs.schedulers.lc import LeastConnection
from app.sim.ipvs.schedulers.mh import MaglevHashing
from app.sim.ipvs.schedulers.nq import NeverQueue
from app.sim.ipvs.schedulers.ovf import WeightedOverflow
from app.sim.ipvs.schedulers.rr import RoundRobin
from app.sim.ipvs.schedulers.sed import ShortestExpectedDelay
from app.sim.ipvs.schedulers.sh import SourceHashing
from app.sim.ipvs.schedulers.twos import TwosChoice
from app.sim.ipvs.schedulers.wlc import WeightedLeastConnection
from app.sim.ipvs.schedulers.wrr import WeightedRoundRobin

SCHEDULERS: dict[str, Scheduler] = {
    s.name: s
    for s in (
        RoundRobin(),
        WeightedRoundRobin(),
        LeastConnection(),
        WeightedLeastConnection(),
        ShortestExpectedDelay(),
        NeverQueue(),
        SourceHashing(),
        DestinationHashing(),
        MaglevHashing(),
        LocalityLeastConnection(),
        LocalityReplication(),
        WeightedFailover(),
        WeightedOverflow(),
        TwosChoice(),
    )
}

# Import-time check: the registry key is the module's own kernel name.
assert all(name == s.name for name, s in SCHEDULERS.items())

__all__ = ["SCHEDULERS", "Pick", "Request", "Scheduler"]
