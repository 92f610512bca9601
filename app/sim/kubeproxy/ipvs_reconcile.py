"""How an IPVS-mode sync changes the IPVS table that is already there: kube-proxy updates
virtual services and real servers in place, so connections and scheduler state survive a
sync (pkg/proxy/ipvs/proxier.go syncService / syncEndpoint, graceful_termination.go).

* a virtual service whose scheduler, flags or timeout changed is edited (`ipvsadm -E`);
* a new endpoint is added with weight 1; a returning one gets weight 1 back;
* a real server no longer wanted is removed at once when it has no connection, or for UDP
  and SCTP (their entries die on the next packet: expire_nodest_conn=1); a TCP one with
  connections is quiesced (weight 0) and removed by a later sync once they are gone;
* a virtual service no longer wanted is deleted.
"""

from __future__ import annotations

from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.model import F_PERSISTENT, VirtualService

Wanted = dict[tuple[str, str, int, int], set[tuple[str, int]]]


def update_service(
    ipvs: Ipvs, svc: VirtualService, scheduler: str, flags: int, timeout: int
) -> None:
    """Edit `svc` when kube-proxy's wish differs from what the kernel has."""
    want_flags = flags | (F_PERSISTENT if timeout else 0)
    if (svc.scheduler.name, svc.flags, svc.timeout) != (scheduler, want_flags, timeout):
        ipvs.edit_service(svc, scheduler, timeout, svc.netmask, flags)


def remove_stale(ipvs: Ipvs, wanted: Wanted) -> None:
    """Delete virtual services and real servers the sync no longer wants (see module doc)."""
    for key, svc in list(ipvs.services.items()):
        if key not in wanted:
            ipvs.delete_service(svc)
            continue
        for dest in list(svc.dests):
            if (dest.addr, dest.port) in wanted[key]:
                continue
            busy = dest.activeconns + dest.inactconns > 0
            if svc.protocol == "TCP" and busy:
                if dest.weight:
                    svc.edit_dest(dest, weight=0)  # graceful termination
            else:
                svc.del_dest(dest)
