"""The `/trace` form: an iptables-save dump and a packet, checked field by field.

`check(fields, lang)` turns the submitted strings into the engine's `--packet` JSON
(CONTRACTS.md "trace input") and returns the errors per field in the page language; the
ruleset itself is judged by the engine, whose refusal is iptables-restore's own wording.
`run(form, lang)` does both and never raises for bad input: every refusal becomes a message
under the field it belongs to.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from app.sim.netfilter.engine import TraceInputError, trace_json
from app.web.i18n import translate
from app.web.metrics import count_traces

#: The largest dump the page accepts (a big node's iptables-save is well under this).
RULESET_LIMIT = 256 * 1024
#: The form's text fields and their defaults (CONTRACTS.md `--packet` defaults).
DEFAULTS: dict[str, str] = {
    "origin": "external",
    "src": "",
    "dst": "",
    "proto": "tcp",
    "sport": "40000",
    "dport": "",
    "in_iface": "eth0",
    "node_ip": "192.168.49.2/24",
    "pod_cidr": "10.244.0.0/16",
    "pod_iface": "cni0",
    "local_ips": "",
    "seed": "0",
}
ORIGINS = ("external", "local")
PROTOS = ("tcp", "udp")
_IFNAME = re.compile(r"^[^\s/:]{1,15}$")  # IFNAMSIZ and dev_valid_name()
_LINE = re.compile(r"line:? (\d+)")
log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What the page shows after a submit: the values, errors per field, maybe a trace."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    trace: dict[str, Any] | None = None
    bad_line: tuple[int, str] | None = None


def _split(text: str) -> list[str]:
    return [item for item in re.split(r"[\s,]+", text.strip()) if item]


def _check_value(name: str, value: str) -> str | None:
    """The i18n key of what is wrong with one packet field, or None."""
    if name in ("src", "dst"):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return "trace.error.ip"
    elif name in ("sport", "dport"):
        if not value.isdigit() or int(value) > 65535:
            return "trace.error.port"
    elif name in ("in_iface", "pod_iface"):
        if not _IFNAME.match(value):
            return "trace.error.iface"
    elif name == "node_ip":
        try:
            ipaddress.IPv4Interface(value)
        except ValueError:
            return "trace.error.node_ip"
        if "/" not in value:
            return "trace.error.node_ip"
    elif name in ("pod_cidr", "local_ips"):
        return _check_list(name, value)
    elif name == "seed" and (not value.isdigit() or int(value) >= 1 << 32):
        return "trace.error.seed"
    return None


def _check_list(name: str, value: str) -> str | None:
    items = _split(value)
    if name == "pod_cidr" and not items:
        return "trace.error.required"
    for item in items:
        try:
            ipaddress.IPv4Interface(item) if name == "local_ips" else ipaddress.IPv4Network(item)
        except ValueError:
            return "trace.error.cidr" if name == "pod_cidr" else "trace.error.ip"
    return None


def check(fields: dict[str, str], lang: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The packet JSON and the errors (field -> message in `lang`) of the packet fields."""
    values = {name: fields.get(name, default).strip() for name, default in DEFAULTS.items()}
    errors: dict[str, str] = {}
    for name, allowed in (("origin", ORIGINS), ("proto", PROTOS)):
        if values[name] not in allowed:
            errors[name] = translate(lang, "trace.error.choice", allowed=" / ".join(allowed))
    for name, value in values.items():
        if name in errors or name in ("origin", "proto"):
            continue
        if not value and name not in ("local_ips",):
            errors[name] = translate(lang, "trace.error.required")
        elif key := _check_value(name, value):
            errors[name] = translate(lang, key)
    packet: dict[str, Any] = {
        "origin": values["origin"],
        "src": values["src"],
        "dst": values["dst"],
        "proto": values["proto"],
        "sport": int(values["sport"]) if values["sport"].isdigit() else 0,
        "dport": int(values["dport"]) if values["dport"].isdigit() else 0,
        "in_iface": values["in_iface"],
        "node_ip": values["node_ip"],
        "pod_cidr": _split(values["pod_cidr"]),
        "pod_iface": values["pod_iface"],
        "local_ips": _split(values["local_ips"]),
    }
    return packet, errors


def bad_line(message: str, ruleset: str) -> tuple[int, str] | None:
    """The line iptables-restore names in its refusal, and its text, if it names one."""
    match = _LINE.search(message)
    lines = ruleset.splitlines()
    if not match or not 0 < int(match.group(1)) <= len(lines):
        return None
    number = int(match.group(1))
    return number, lines[number - 1]


def run(fields: dict[str, str], lang: str) -> Outcome:
    """Check the form and, when it is sound, trace the packet through the dump."""
    ruleset = fields.get("ruleset", "")
    outcome = Outcome({name: fields.get(name, d).strip() for name, d in DEFAULTS.items()})
    outcome.values["ruleset"] = ruleset
    size = len(ruleset.encode("utf-8"))
    if size > RULESET_LIMIT:
        kib = str(-(-size // 1024))
        outcome.errors["ruleset"] = translate(lang, "trace.error.too_large", size=kib)
    packet, errors = check(fields, lang)
    outcome.errors.update(errors)
    if outcome.errors:
        return outcome
    seed = int(outcome.values["seed"])
    try:
        outcome.trace = trace_json(ruleset, packet, seed=seed, all_branches=True)
        count_traces("iptables", 1)  # the page traces an iptables-save dump
    except TraceInputError as err:
        _refusal(outcome, err.message, ruleset, lang)
    except Exception:  # a defect must not turn a learner's paste into a server error
        log.exception("trace failed for a /trace submission")
        outcome.errors["ruleset"] = translate(lang, "trace.error.internal")
    return outcome


def _refusal(outcome: Outcome, message: str, ruleset: str, lang: str) -> None:
    """Put the engine's refusal under the field it is about (the message stays verbatim)."""
    key = re.match(r"packet: (\w+)", message)
    if key and key.group(1) in DEFAULTS:
        outcome.errors[key.group(1)] = message
        return
    if key:
        outcome.errors["packet"] = message
        return
    outcome.errors["ruleset"] = message
    outcome.bad_line = bad_line(message, ruleset)
