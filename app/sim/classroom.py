"""Classroom items as data: what a teacher pushes to a room, computed by the engine.

An item is either a packet to look at ("lab": a scenario, a kube-proxy mode, a seed and one
request, with the trace the player replays) or a question ("which endpoint will the next packet
reach?"). A question's options are every endpoint the rules can send a new connection to
(`explore_branches` walks each branch of the `-m statistic` cascade,
iptables-extensions(8), statistic); its right answer is where the lab, built from the same seed,
actually sends the next packet. Since the lab is deterministic given its seed, everyone who
rebuilds the item sees the same path. Join codes are checked here too. Standard library only.
"""

from __future__ import annotations

from typing import Any

from app.sim.lab import Lab, LabError
from app.sim.lab.shares import expected_shares

#: Join-code letters: no 0/O, 1/I/L, 5/S, 2/Z, 8/B, which are misread on a wall or a phone.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6
#: The option that stands for "no endpoint: the packet is dropped or rejected".
NO_ENDPOINT = "none"
KINDS = ("lab", "question")


class ItemError(ValueError):
    """Bad input for an item; `message` is {"en": ..., "zh": ...} or a plain string."""

    def __init__(self, message: dict[str, str] | str) -> None:
        super().__init__(message if isinstance(message, str) else message["en"])
        self.message = message

    def text(self, lang: str) -> str:
        return self.message if isinstance(self.message, str) else self.message[lang]


def normalise_code(text: str) -> str | None:
    """The join code typed by a student, upper-cased and without spaces or dashes; None when
    it cannot be a code (wrong length or a letter the alphabet never uses)."""
    code = "".join(text.split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


def build_item(
    kind: str, scenario: str, mode: str, seed: int, source: str, to: str
) -> dict[str, Any]:
    """The item a room sees. Raises ItemError for an unknown kind, a bad lab or request.

    Keys: kind, scenario, mode, seed, source, to, trace (the request's first trace, what the
    player replays), endpoint (where it went, or NO_ENDPOINT), and for a question `options`
    (list of {"value", "label"}) and `answer` (the right option's value)."""
    if kind not in KINDS:
        raise ItemError({"en": f"unknown item kind {kind!r}", "zh": f"未知的类型 {kind!r}"})
    try:
        lab = Lab.new(scenario, mode, seed)
        options = _options(lab, source, to)
        sent = lab.request(source, to, "tcp", 1)
    except LabError as error:
        raise ItemError(error.messages) from None
    trace = sent["traces"][0]
    endpoint = trace.get("endpoint") or NO_ENDPOINT
    item: dict[str, Any] = {
        "kind": kind,
        "scenario": scenario,
        "mode": mode,
        "seed": seed,
        "source": source,
        "to": to,
        "trace": trace,
        "endpoint": endpoint,
    }
    if kind == "question":
        if endpoint not in {o["value"] for o in options}:
            options.append(_option(lab, endpoint))
        item |= {"options": options, "answer": endpoint}
    return item


def _options(lab: Lab, source: str, to: str) -> list[dict[str, str]]:
    """Every endpoint a new connection can reach, plus "no endpoint", in address order."""
    if lab.mode != "iptables":
        # Only the iptables rules have a statistic cascade to explore; for the other modes
        # the options are the Service's ready endpoints as the cluster lists them.
        values = _service_endpoints(lab, to)
    else:
        values = sorted(expected_shares(lab, source, to, "tcp"), key=_address_key)
    return [_option(lab, v) for v in values] + [_option(lab, NO_ENDPOINT)]


def _service_endpoints(lab: Lab, to: str) -> list[str]:
    """Ready endpoints of the Service `to` names (`svc/NAME:PORT`), at the port behind PORT;
    for an address, every ready endpoint of every Service (the engine's answer is among them)."""
    summary = lab.summary()
    name, _, port = to.removeprefix("svc/").partition(":")
    found: set[str] = set()
    for service in summary["services"]:
        if to.startswith("svc/") and service.get("name") != name:
            continue
        names = {
            p.get("name", "")
            for p in service.get("ports", [])
            if not to.startswith("svc/") or port in (str(p.get("port")), p.get("name"))
        }
        key = f"{service.get('namespace', 'default')}/{service.get('name')}"
        for endpoint in summary["endpoints"].get(key, []):
            if endpoint.get("ready"):
                found |= {
                    f"{endpoint['address']}:{p['port']}"
                    for p in endpoint.get("ports", [])
                    if p.get("name", "") in names
                }
    return sorted(found, key=_address_key)


def _address_key(value: str) -> tuple[int, ...]:
    host, _, port = value.rpartition(":")
    try:
        return (*(int(p) for p in host.split(".")), int(port))
    except ValueError:
        return (999,)


def _option(lab: Lab, value: str) -> dict[str, str]:
    if value == NO_ENDPOINT:
        return {"value": value, "label": NO_ENDPOINT}
    ip = value.rpartition(":")[0]
    for pod in lab.summary()["pods"]:
        if pod.get("ip") == ip:
            return {"value": value, "label": f"{pod['name']} ({value})"}
    return {"value": value, "label": value}
