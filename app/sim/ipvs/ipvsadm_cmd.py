"""`ipvsadm ...` as a command: parse argv the way ipvsadm(8) does and run it against an
`Ipvs` table, answering with ipvsadm's own wording and exit status.

Parse errors go through ipvsadm's `fail(2, ...)` (status 2); refused kernel operations print
libipvs `ipvs_strerror()` text and exit with status 255 (process_options returns -1).
Addresses are always printed numerically (`-n` is implied: the simulator has no resolver).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from app.sim.command import CommandResult
from app.sim.ipvs.director import DEFAULT_SCHEDULER, Ipvs
from app.sim.ipvs.ipvsadm import ListFormat, list_connections, list_services, list_timeout, save
from app.sim.ipvs.model import F_ONEPACKET, IpvsError, VirtualService, canonical

COMMANDS = {
    "-A": "add-service", "--add-service": "add-service",
    "-E": "edit-service", "--edit-service": "edit-service",
    "-D": "delete-service", "--delete-service": "delete-service",
    "-C": "flush", "--clear": "flush",
    "-L": "list", "-l": "list", "--list": "list",
    "-Z": "zero", "--zero": "zero",
    "-a": "add-server", "--add-server": "add-server",
    "-e": "edit-server", "--edit-server": "edit-server",
    "-d": "delete-server", "--delete-server": "delete-server",
    "-S": "save", "--save": "save",
}  # fmt: skip
WITH_ARG = {
    "-t": "tcp", "--tcp-service": "tcp", "-u": "udp", "--udp-service": "udp",
    "--sctp-service": "sctp", "-s": "scheduler", "--scheduler": "scheduler",
    "-M": "netmask", "--netmask": "netmask", "-r": "real-server", "--real-server": "real-server",
    "-w": "weight", "--weight": "weight", "-x": "u-threshold", "--u-threshold": "u-threshold",
    "-y": "l-threshold", "--l-threshold": "l-threshold",
}  # fmt: skip
FLAGS = {
    "-m": "masq", "--masquerading": "masq", "-g": "route", "--gatewaying": "route",
    "-i": "tunnel", "--ipip": "tunnel", "-n": "numeric", "--numeric": "numeric",
    "-c": "connection", "--connection": "connection", "--stats": "stats", "--rate": "rate",
    "--thresholds": "thresholds", "--persistent-conn": "persistent-conn",
    "--nosort": "nosort", "--sort": "sort", "-X": "exact", "--exact": "exact",
    "--timeout": "timeout", "-o": "ops", "--ops": "ops",
}  # fmt: skip
SERVICE_CMDS = ("add-service", "edit-service", "delete-service")
SERVER_CMDS = ("add-server", "edit-server", "delete-server")
MAX_TIMEOUT = 86400 * 31  # ipvsadm MAX_TIMEOUT
DEFAULT_PERSISTENCE = 300  # IPVS_SVC_PERSISTENT_TIMEOUT


class Fail(Exception):
    """ipvsadm's fail(2, ...)."""


class Unknown(Exception):
    """popt refused an option: ipvsadm prints popt's message and returns -1 (status 255)."""


@dataclass
class Parsed:
    cmd: str | None = None
    opts: dict[str, str] = field(default_factory=dict)


def _expand(argv: list[str]) -> list[str]:
    """popt-style clustering: `-Lnc` -> `-L -n -c`; `-p300` / `-w3` keep their value."""
    out: list[str] = []
    for arg in argv:
        if arg.startswith("--") or not arg.startswith("-") or len(arg) <= 2:
            out.append(arg)
            continue
        for i, ch in enumerate(arg[1:], 1):
            opt = "-" + ch
            if opt in WITH_ARG or opt == "-p":
                out.append(opt)
                if arg[i + 1 :]:
                    out.append(arg[i + 1 :])
                break
            out.append(opt)
    return out


def _set(parsed: Parsed, name: str, value: str) -> None:
    if name in parsed.opts:
        raise Fail(f"multiple '{_optname(name)}' options specified")
    parsed.opts[name] = value


def _optname(name: str) -> str:
    return {"tcp": "service-address", "udp": "service-address", "sctp": "service-address",
            "masq": "forwarding-method", "route": "forwarding-method",
            "tunnel": "forwarding-method"}.get(name, name)  # fmt: skip


def parse(argv: list[str]) -> Parsed:
    """Read ipvsadm's command line (popt rules: clustered short options, `-p [timeout]`)."""
    parsed = Parsed()
    args = _expand(argv)
    i = 0
    while i < len(args):
        i = _take(parsed, args, i)
    return parsed


def _take(parsed: Parsed, args: list[str], i: int) -> int:
    """Consume the option at `args[i]`; the index of the next one."""
    arg = args[i]
    if arg in COMMANDS:
        if parsed.cmd is not None:
            raise Fail("multiple commands specified")
        parsed.cmd = COMMANDS[arg]
    elif arg in WITH_ARG:
        if i + 1 >= len(args):
            raise Fail(f"{arg}: missing argument")
        name = WITH_ARG[arg]
        if name in ("tcp", "udp", "sctp"):
            _set(parsed, "service", f"{name} {args[i + 1]}")
        else:
            _set(parsed, name, args[i + 1])
        return i + 2
    elif arg in ("-p", "--persistent"):
        if i + 1 < len(args) and args[i + 1].isdigit():
            _set(parsed, "persistent", args[i + 1])
            return i + 2
        _set(parsed, "persistent", str(DEFAULT_PERSISTENCE))
    elif arg in FLAGS:
        name = FLAGS[arg]
        if name in ("masq", "route", "tunnel"):
            _set(parsed, "forward", name)
        elif name != "sort":  # --sort is the default, accepted for compatibility
            _set(parsed, name, "")
    elif arg.startswith("-"):
        raise Unknown(f"{arg}: unknown option")  # popt's own error
    else:
        raise Fail(f"unexpected argument {arg}")
    return i + 1


def _number(text: str, low: int, high: int, what: str) -> int:
    if text.isdigit() and low <= int(text) <= high:
        return int(text)
    raise Fail(f"illegal {what} specified")


def _addr_port(text: str, what: str, default_port: int | None = None) -> tuple[str, int]:
    """parse_service: `a.b.c.d[:port]` or `[v6]:port`."""
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        host = canonical(host)
    except ValueError:
        raise Fail(f"illegal {what} address[:port] specified") from None
    if port is None:
        if default_port is None:
            return host, 0
        return host, default_port
    if not port.isdigit() or int(port) > 65535:
        raise Fail(f"illegal {what} address[:port] specified")
    return host, int(port)


def _timeout(text: str) -> int:
    """parse_timeout: 1..MAX_TIMEOUT seconds."""
    if text.isdigit() and 1 <= int(text) <= MAX_TIMEOUT:
        return int(text)
    raise Fail(f"invalid timeout value `{text}' specified")


def _netmask(text: str, addr: str) -> str:
    """-M: a dotted IPv4 mask, or a prefix length 1..128 for an IPv6 service."""
    if ":" in addr:
        if text.isdigit() and 1 <= int(text) <= 128:
            return text
        raise Fail("illegal ipv6 netmask specified")
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise Fail("illegal virtual server persistent mask specified") from None


def _need(parsed: Parsed, cmd: str, *names: str) -> None:
    for name in names:
        if name not in parsed.opts:
            raise Fail(f"You need to supply the '{_optname(name)}' option for the '{cmd}' command")


def _allowed(parsed: Parsed, cmd: str, allowed: set[str]) -> None:
    for name in parsed.opts:
        if name not in allowed:
            raise Fail(f"Illegal '{_optname(name)}' option with the '{cmd}' command")


LIST_OPTS = {"numeric", "connection", "service", "timeout", "stats", "rate", "thresholds",
             "persistent-conn", "nosort", "exact"}  # fmt: skip
SERVICE_OPTS = {"service", "scheduler", "persistent", "netmask", "ops"}
SERVER_OPTS = {"service", "real-server", "forward", "weight", "u-threshold", "l-threshold"}
FORWARD_NAMES = {"masq": "Masq", "route": "Route", "tunnel": "Tunnel"}


def run_ipvsadm(ipvs: Ipvs, argv: list[str], now: float = 0.0) -> CommandResult:
    """Run `ipvsadm argv...` (argv without the program name)."""
    try:
        parsed = parse(argv)
        return CommandResult(0, _run(ipvs, parsed, now))
    except Fail as err:
        return CommandResult(2, "", f"{err}\n")
    except (IpvsError, Unknown) as err:
        return CommandResult(255, "", f"{err}\n")


def _run(ipvs: Ipvs, parsed: Parsed, now: float) -> str:
    cmd = parsed.cmd
    if cmd is None:
        if parsed.opts:
            raise Fail("no command specified")  # ipvsadm prints its try-help text here
        cmd = "list"
    if cmd == "list":
        return _list(ipvs, parsed, now)
    if cmd == "save":
        _allowed(parsed, cmd, {"numeric"})
        return save(ipvs)
    if cmd == "flush":
        _allowed(parsed, cmd, set())
        ipvs.clear()
        return ""
    if cmd == "zero":
        _allowed(parsed, cmd, {"service"})
        if "service" in parsed.opts:
            _service(ipvs, parsed, "No such service")
        ipvs.zero()
        return ""
    if cmd in SERVICE_CMDS:
        return _service_cmd(ipvs, parsed, cmd)
    return _server_cmd(ipvs, parsed, cmd)


def _list(ipvs: Ipvs, parsed: Parsed, now: float) -> str:
    _allowed(parsed, "list", LIST_OPTS)
    o = parsed.opts
    if ({"connection", "timeout"} & o.keys()) and ({"stats", "rate", "thresholds"} & o.keys()):
        raise Fail("options conflicts in the list command")
    if "connection" in o:
        return list_connections(ipvs, now)
    if "timeout" in o:
        return list_timeout()
    fmt = ListFormat(
        stats="stats" in o, rate="rate" in o, thresholds="thresholds" in o,
        persistent_conn="persistent-conn" in o, nosort="nosort" in o, exact="exact" in o,
    )  # fmt: skip
    if "service" in o:
        return list_services(ipvs, fmt, _service(ipvs, parsed, "No such service"))
    return list_services(ipvs, fmt)


def _svc_key(parsed: Parsed) -> tuple[str, str, int]:
    proto, _, text = parsed.opts["service"].partition(" ")
    addr, port = _addr_port(text, "virtual server")
    return proto.upper(), addr, port


def _service(ipvs: Ipvs, parsed: Parsed, missing: str) -> VirtualService:
    proto, addr, port = _svc_key(parsed)
    svc = ipvs.find_service(proto, addr, port)
    if svc is None:
        raise IpvsError(missing)
    return svc


def _service_cmd(ipvs: Ipvs, parsed: Parsed, cmd: str) -> str:
    _need(parsed, cmd, "service")
    _allowed(parsed, cmd, SERVICE_OPTS if cmd != "delete-service" else {"service"})
    proto, addr, port = _svc_key(parsed)
    o = parsed.opts
    timeout = _timeout(o["persistent"]) if "persistent" in o else 0
    if cmd != "delete-service" and port == 0 and not timeout:
        raise Fail("Zero port specified for non-persistent service")
    if "ops" in o and proto != "UDP":
        raise Fail("One-Packet Scheduling is only for UDP virtual services")
    default_mask = "128" if ":" in addr else "255.255.255.255"
    netmask = _netmask(o["netmask"], addr) if "netmask" in o else default_mask
    flags = F_ONEPACKET if "ops" in o else 0
    if cmd == "add-service":
        ipvs.add_service(proto, addr, port, o.get("scheduler", DEFAULT_SCHEDULER),
                         timeout=timeout, netmask=netmask, flags=flags)  # fmt: skip
        return ""
    svc = _service(ipvs, parsed, "No such service")
    if cmd == "delete-service":
        ipvs.delete_service(svc)
        return ""
    ipvs.edit_service(svc, o.get("scheduler", DEFAULT_SCHEDULER), timeout, netmask, flags)
    return ""


def _server_cmd(ipvs: Ipvs, parsed: Parsed, cmd: str) -> str:
    _need(parsed, cmd, "service", "real-server")
    _allowed(parsed, cmd, SERVER_OPTS if cmd != "delete-server" else {"service", "real-server"})
    o = parsed.opts
    _proto, _vaddr, vport = _svc_key(parsed)
    raddr, rport = _addr_port(o["real-server"], "real server", vport)
    fwd = FORWARD_NAMES[o.get("forward", "route")]  # direct routing is ipvsadm's default
    if fwd in ("Route", "Tunnel"):
        rport = vport  # DR and tunnelling cannot change the port
    opts = {
        "weight": _number(o.get("weight", "1"), 0, 65535, "weight"),
        "u_threshold": _number(o.get("u-threshold", "0"), 0, 2**31 - 1, "u_threshold"),
        "l_threshold": _number(o.get("l-threshold", "0"), 0, 2**31 - 1, "l_threshold"),
    }
    svc = _service(ipvs, parsed, "Service not defined")
    if cmd == "add-server":
        ipvs.add_dest(svc, raddr, rport, fwd=fwd, **opts)
    elif cmd == "edit-server":
        dest = ipvs.dest(svc, raddr, rport)
        svc.edit_dest(dest, fwd=fwd, **opts)  # ipvsadm sends every field (weight 1 default)
    else:
        dest = ipvs.dest(svc, raddr, rport)
        svc.del_dest(dest)
    return ""
