"""The IPVS state as plain data (JSON-ready) and back, so a lab stored between requests
keeps its virtual services, real servers (in kernel order), counters, scheduler state (rr's
pointer, wrr's current weight, the lblc/lblcr caches) and connection table.

Hash tables (sh, dh, mh) are not stored: they depend only on the dest list and weights and
are rebuilt exactly as the kernel builds them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from app.sim.ipvs.conn import Conn
from app.sim.ipvs.director import Ipvs, Sysctls
from app.sim.ipvs.model import Dest, Stats, VirtualService
from app.sim.ipvs.schedulers import SCHEDULERS
from app.sim.ipvs.schedulers.lblc import CacheEntry
from app.sim.ipvs.schedulers.lblcr import DestSet

_DEST_FIELDS = ("addr", "port", "weight", "fwd", "u_threshold", "l_threshold", "activeconns",
                "inactconns", "persistconns", "overloaded", "available", "last_weight")  # fmt: skip


def to_data(ipvs: Ipvs) -> dict[str, Any]:
    services = list(ipvs.services.values())
    return {
        "sysctls": asdict(ipvs.sysctls),
        "services": [_service_data(svc) for svc in services],
        "conns": [_conn_data(c, services) for c in ipvs.conns.all()],
    }


def from_data(data: dict[str, Any]) -> Ipvs:
    ipvs = Ipvs(sysctls=Sysctls(**data.get("sysctls", {})))
    services = [_service(ipvs, item) for item in data.get("services", [])]
    conns = data.get("conns", [])
    templates = {}
    for item in sorted(conns, key=lambda c: not c["template"]):  # templates first
        conn = _conn(item, services, templates)
        table = ipvs.conns.templates if conn.template else ipvs.conns.conns
        table[conn.key] = conn  # counters were stored with the dests: no re-binding
        if conn.template:
            templates[tuple(item["key"])] = conn
    return ipvs


def _dest_data(d: Dest) -> dict[str, Any]:
    return {**{f: getattr(d, f) for f in _DEST_FIELDS}, "stats": asdict(d.stats)}


def _service_data(svc: VirtualService) -> dict[str, Any]:
    return {
        "protocol": svc.protocol, "addr": svc.addr, "port": svc.port,
        "scheduler": svc.scheduler.name, "flags": svc.flags, "timeout": svc.timeout,
        "netmask": svc.netmask, "fwmark": svc.fwmark, "stats": asdict(svc.stats),
        "dests": [_dest_data(d) for d in svc.dests],
        "sched_state": _sched_data(svc),
    }  # fmt: skip


def _index(svc: VirtualService, dest: Dest | None) -> int | None:
    return None if dest is None else svc.dests.index(dest)


def _sched_data(svc: VirtualService) -> dict[str, Any] | None:
    s, name = svc.sched_state, svc.scheduler.name
    if name == "rr":
        return {"pointer": _index(svc, s.pointer)}
    if name == "wrr":
        return {"cl": _index(svc, s.cl), "cw": s.cw, "mw": s.mw, "di": s.di}
    if name == "lblc":
        return {"entries": {k: [_index(svc, e.dest), e.lastuse] for k, e in s.entries.items()
                            if e.dest in svc.dests}}  # fmt: skip
    if name == "lblcr":
        return {"entries": {k: [[_index(svc, d) for d in e.members if d in svc.dests],
                                e.lastmod, e.lastuse] for k, e in s.entries.items()}}  # fmt: skip
    return None


def _service(ipvs: Ipvs, item: dict[str, Any]) -> VirtualService:
    svc = VirtualService(
        item["protocol"], item["addr"], item["port"], SCHEDULERS[item["scheduler"]],
        item["flags"], item["timeout"], item["netmask"], item["fwmark"],
        stats=Stats(**item["stats"]),
    )  # fmt: skip
    for d in item["dests"]:
        dest = Dest(**{f: d[f] for f in _DEST_FIELDS if f != "last_weight"})
        dest.last_weight, dest.stats = d["last_weight"], Stats(**d["stats"])
        svc.dests.append(dest)  # already in kernel order
    svc.scheduler.changed(svc)  # rebuild hash tables from the list
    _restore_sched(svc, item.get("sched_state"))
    ipvs.services[svc.key] = svc
    return svc


def _restore_sched(svc: VirtualService, data: dict[str, Any] | None) -> None:
    if data is None:
        return
    s, dests = svc.sched_state, svc.dests

    def at(i: int | None) -> Dest | None:
        return None if i is None else dests[i]

    if svc.scheduler.name == "rr":
        s.pointer = at(data["pointer"])
    elif svc.scheduler.name == "wrr":
        s.cl, s.cw, s.mw, s.di = at(data["cl"]), data["cw"], data["mw"], data["di"]
    elif svc.scheduler.name == "lblc":
        s.entries = {k: CacheEntry(dests[i], t) for k, (i, t) in data["entries"].items()}
    elif svc.scheduler.name == "lblcr":
        s.entries = {k: DestSet([dests[i] for i in m], mod, use)
                     for k, (m, mod, use) in data["entries"].items()}  # fmt: skip


def _conn_data(c: Conn, services: list[VirtualService]) -> dict[str, Any]:
    svc_index = services.index(c.service)
    kept = c.dest in c.service.dests
    return {
        "key": list(c.key), "service": svc_index,
        "dest": _index(c.service, c.dest) if kept else None,
        "gone_dest": None if kept else _dest_data(c.dest),
        "state": c.state, "expires": c.expires, "template": c.template,
        "control": list(c.control.key) if c.control else None,
        "n_control": c.n_control, "timeout": c.timeout,
    }  # fmt: skip


def _conn(item: dict[str, Any], services: list[VirtualService], templates: dict) -> Conn:
    svc = services[item["service"]]
    if item["dest"] is not None:
        dest = svc.dests[item["dest"]]
    else:  # a deleted real server that connections still point at
        gone = item["gone_dest"]
        dest = Dest(**{f: gone[f] for f in _DEST_FIELDS if f != "last_weight"})
    proto, caddr, cport, vaddr, vport = item["key"]
    control = templates.get(tuple(item["control"])) if item["control"] else None
    return Conn(proto, caddr, cport, vaddr, vport, dest, svc, item["state"], item["expires"],
                item["template"], control, item["n_control"], item["timeout"])  # fmt: skip
