"""The TARGETS registry: what `-j NAME` can do, keyed by iptables' spelling.

Verdicts (ACCEPT, DROP, RETURN), chain jumps (`-j CHAIN`, `-g CHAIN`), REJECT, the mark
targets (MARK, CONNMARK), LOG, TRACE, NOTRACK, CT, and the NAT targets from `target_nat.py`.
Each class parses its options, prints itself as iptables 1.8.9 does and applies itself to a
`MatchContext` (iptables-extensions(8), kernel xt_*.c).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from app.sim.netfilter.context import MatchContext, TargetResult, Verdict
from app.sim.netfilter.errors import ext_param, param
from app.sim.netfilter.model import RuleInfo, Target
from app.sim.netfilter.target_nat import DnatTarget, MasqueradeTarget, RedirectTarget, SnatTarget
from app.sim.netfilter.values import parse_mark, save_string

_CONTINUE = TargetResult(Verdict.CONTINUE)


@dataclass
class VerdictTarget(Target):
    """ACCEPT, DROP or RETURN: the standard verdicts, no options."""

    verdict: Verdict = Verdict.ACCEPT

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.verdict.value

    def apply(self, ctx: MatchContext) -> TargetResult:
        return TargetResult(self.verdict)

    def save_args(self) -> list[str]:
        return ["-j", self.verdict.value]


@dataclass
class JumpTarget(Target):
    """`-j CHAIN` (come back on RETURN) or `-g CHAIN` (goto: RETURN goes to our caller)."""

    chain: str = ""
    goto: bool = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.chain

    def apply(self, ctx: MatchContext) -> TargetResult:
        return TargetResult(Verdict.GOTO if self.goto else Verdict.JUMP, chain=self.chain)

    def save_args(self) -> list[str]:
        return ["-g" if self.goto else "-j", self.chain]


# libipt_REJECT.c reject_table: canonical name and short alias.
REJECT_TYPES: dict[str, str] = {
    "icmp-net-unreachable": "net-unreach",
    "icmp-host-unreachable": "host-unreach",
    "icmp-proto-unreachable": "proto-unreach",
    "icmp-port-unreachable": "port-unreach",
    "icmp-net-prohibited": "net-prohib",
    "icmp-host-prohibited": "host-prohib",
    "tcp-reset": "tcp-rst",
    "icmp-admin-prohibited": "admin-prohib",
}
_REJECT_ALIASES = {alias: name for name, alias in REJECT_TYPES.items()}


@dataclass
class RejectTarget(Target):
    """REJECT: answer with an ICMP error or a TCP RST, then drop (kernel-facts §5.7)."""

    reject_with: str = "icmp-port-unreachable"
    name: ClassVar[str] = "REJECT"  # type: ignore[misc]
    tables: ClassVar[tuple[str, ...] | None] = ("filter",)
    hooks: ClassVar[tuple[str, ...] | None] = ("INPUT", "FORWARD", "OUTPUT")
    options: ClassVar[dict[str, tuple[str, int]]] = {"--reject-with": ("reject-with", 1)}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        kind = _REJECT_ALIASES.get(args[0], args[0])
        if kind not in REJECT_TYPES:
            raise param(f'unknown reject type "{args[0]}"')
        self.reject_with = kind

    def kernel_accepts(self, info: RuleInfo, table: str, hooks: frozenset[str]) -> bool:
        # ipt_REJECT.c reject_tg_check: a TCP reset needs `-p tcp`.
        tcp = info.proto == 6 and not info.proto_inverted
        return super().kernel_accepts(info, table, hooks) and (
            tcp or self.reject_with != "tcp-reset"
        )

    def apply(self, ctx: MatchContext) -> TargetResult:
        return TargetResult(Verdict.REJECT, reject_with=self.reject_with)

    def save_args(self) -> list[str]:
        return ["-j", "REJECT", "--reject-with", self.reject_with]

    def list_text(self, numeric: bool = True) -> str:
        return f"reject-with {self.reject_with}"


def _xmark_words(prefix: str, value: int, mask: int) -> str:
    """How libxt_MARK/CONNMARK print an xmark pair in `iptables -L`."""
    if value == 0:
        return f"{prefix} and {~mask & 0xFFFFFFFF:#x}"
    if value == mask:
        return f"{prefix} or {value:#x}"
    if mask == 0:
        return f"{prefix} xor {value:#x}"
    if mask == 0xFFFFFFFF:
        return f"{prefix} set {value:#x}"
    return f"{prefix} xset {value:#x}/{mask:#x}"


def _xmark_from(option: str, text: str, module: str) -> tuple[int, int]:
    """(value, mask) with new = (old & ~mask) ^ value, for each MARK spelling (libxt_MARK.c)."""
    if option in ("set-xmark", "set-mark"):
        value, mask = parse_mark(text, module, f"--{option}")
        return (value, mask) if option == "set-xmark" else (value, value | mask)
    value, _ = parse_mark(text, module, f"--{option}")
    return {"and-mark": (0, ~value & 0xFFFFFFFF), "or-mark": (value, value)}.get(option, (value, 0))


_MARK_OPTIONS = ("set-xmark", "set-mark", "and-mark", "or-mark", "xor-mark")
_MODE_ORDER = (*_MARK_OPTIONS, "save-mark", "restore-mark")


def _exclusive(module: str, given: str | None, option: str) -> None:
    """The mark-changing options exclude each other (libxt_MARK.c / libxt_CONNMARK.c)."""
    if given is None:
        return
    if given == option:
        raise ext_param(f'{module}: option "--{option}" can only be used once.')
    first, second = sorted((given, option), key=_MODE_ORDER.index)
    raise ext_param(f'{module}: option "--{first}" cannot be used together with "--{second}".')


@dataclass
class MarkTarget(Target):
    """MARK: nfmark = (nfmark & ~mask) ^ value (xt_mark.c mark_tg)."""

    value: int | None = None
    mask: int = 0xFFFFFFFF
    name: ClassVar[str] = "MARK"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {f"--{o}": (o, 1) for o in _MARK_OPTIONS}

    given: str | None = field(default=None, repr=False, compare=False)

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        _exclusive("MARK", self.given, option)
        self.given = option
        self.value, self.mask = _xmark_from(option, args[0], "MARK")

    def finish(self, info: RuleInfo) -> None:
        if self.value is None:
            raise param("MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required")

    def apply(self, ctx: MatchContext) -> TargetResult:
        mark = (ctx.packet.mark & ~self.mask & 0xFFFFFFFF) ^ (self.value or 0)
        ctx.packet = ctx.packet.with_(mark=mark)
        return _CONTINUE

    def save_args(self) -> list[str]:
        return ["-j", "MARK", "--set-xmark", f"{self.value or 0:#x}/{self.mask:#x}"]

    def list_text(self, numeric: bool = True) -> str:
        return _xmark_words("MARK", self.value or 0, self.mask)


@dataclass
class ConnmarkTarget(Target):
    """CONNMARK: set the connection mark, or copy it to/from the packet mark (xt_connmark.c)."""

    mode: str | None = None  # "set", "save" or "restore"
    value: int = 0
    ctmask: int = 0xFFFFFFFF
    nfmask: int = 0xFFFFFFFF
    given: str | None = field(default=None, repr=False, compare=False)
    name: ClassVar[str] = "CONNMARK"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {
        **{f"--{o}": (o, 1) for o in _MARK_OPTIONS},
        "--save-mark": ("save-mark", 0),
        "--restore-mark": ("restore-mark", 0),
        "--nfmask": ("nfmask", 1),
        "--ctmask": ("ctmask", 1),
        "--mask": ("mask", 1),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if option in ("nfmask", "ctmask", "mask"):
            number, _ = parse_mark(args[0], "CONNMARK", f"--{option}")
            self.nfmask = number if option != "ctmask" else self.nfmask
            self.ctmask = number if option != "nfmask" else self.ctmask
            return
        _exclusive("CONNMARK", self.given, option)
        self.given = option
        if option in ("save-mark", "restore-mark"):
            self.mode = option.split("-")[0]
        else:
            self.mode = "set"
            self.value, self.ctmask = _xmark_from(option, args[0], "CONNMARK")

    def finish(self, info: RuleInfo) -> None:
        if self.mode is None:
            raise param("CONNMARK target: No operation specified")

    def apply(self, ctx: MatchContext) -> TargetResult:
        if self.mode == "set":
            ctx.ctmark = (ctx.ctmark & ~self.ctmask & 0xFFFFFFFF) ^ self.value
        elif self.mode == "save":
            ctx.ctmark = (ctx.ctmark & ~self.ctmask & 0xFFFFFFFF) ^ (ctx.packet.mark & self.nfmask)
        else:
            mark = (ctx.packet.mark & ~self.nfmask & 0xFFFFFFFF) ^ (ctx.ctmark & self.ctmask)
            ctx.packet = ctx.packet.with_(mark=mark)
        return _CONTINUE

    def save_args(self) -> list[str]:
        if self.mode == "set":
            return ["-j", "CONNMARK", "--set-xmark", f"{self.value:#x}/{self.ctmask:#x}"]
        return ["-j", "CONNMARK", f"--{self.mode}-mark", "--nfmask", f"{self.nfmask:#x}",
                "--ctmask", f"{self.ctmask:#x}"]  # fmt: skip

    def list_text(self, numeric: bool = True) -> str:
        if self.mode == "set":
            return _xmark_words("CONNMARK", self.value, self.ctmask)
        if self.nfmask == self.ctmask == 0xFFFFFFFF:
            return f"CONNMARK {self.mode}"
        if self.nfmask == self.ctmask:
            return f"CONNMARK {self.mode} mask {self.nfmask:#x}"
        if self.mode == "save":
            return f"CONNMARK save nfmask {self.nfmask:#x} ctmask ~{self.ctmask:#x}"
        return f"CONNMARK restore ctmask {self.ctmask:#x} nfmask ~{self.nfmask:#x}"


LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "err": 3, "warning": 4,
              "warn": 4, "notice": 5, "info": 6, "debug": 7}  # fmt: skip


@dataclass
class LogTarget(Target):
    """LOG: write a kernel log line about the packet and continue (xt_LOG.c)."""

    prefix: str = ""
    level: int = 4
    seen: set[str] = field(default_factory=set, repr=False, compare=False)
    name: ClassVar[str] = "LOG"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {
        "--log-prefix": ("log-prefix", 1),
        "--log-level": ("log-level", 1),
    }

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        if option in self.seen:
            raise ext_param(f'LOG: option "--{option}" can only be used once.')
        self.seen.add(option)
        if option == "log-prefix":
            self.prefix = args[0][:29]  # iptables-nft keeps the first 29 characters
        elif args[0].lower() in LOG_LEVELS:
            self.level = LOG_LEVELS[args[0].lower()]
        elif args[0].isdigit() and int(args[0]) <= 7:
            self.level = int(args[0])
        else:
            raise ext_param(f'log level "{args[0]}" unknown')

    def apply(self, ctx: MatchContext) -> TargetResult:
        pkt = ctx.packet
        ctx.log.append(
            f"{self.prefix}IN={ctx.in_iface or ''} OUT={ctx.out_iface or ''} SRC={pkt.src} "
            f"DST={pkt.dst} PROTO={pkt.proto.upper()} SPT={pkt.sport} DPT={pkt.dport}"
            + (f" MARK={pkt.mark:#x}" if pkt.mark else "")
        )
        return _CONTINUE

    def save_args(self) -> list[str]:
        args = ["-j", "LOG"]
        if self.prefix:
            args += ["--log-prefix", save_string(self.prefix)]
        return args + (["--log-level", str(self.level)] if self.level != 4 else [])

    def list_text(self, numeric: bool = True) -> str:
        # libipt_LOG.c: numeric flags and level with -n, else the first level name in
        # its alphabetical table (emerg before panic for 0).
        names = {v: k for k, v in sorted(LOG_LEVELS.items(), reverse=True) if k != "warn"}
        names[3] = "error"
        level = f"flags 0 level {self.level}" if numeric else f"level {names[self.level]}"
        text = f"LOG {level}"
        return text + (f' prefix "{self.prefix}"' if self.prefix else "")


@dataclass
class TraceTarget(Target):
    """TRACE: ask the kernel to report this packet's path (nftrace); continues."""

    name: ClassVar[str] = "TRACE"  # type: ignore[misc]

    def apply(self, ctx: MatchContext) -> TargetResult:
        return _CONTINUE

    def save_args(self) -> list[str]:
        return ["-j", "TRACE"]


@dataclass
class NotrackTarget(Target):
    """NOTRACK (and `CT --notrack`): the packet skips connection tracking (raw table only)."""

    ct_spelling: bool = False  # written as `-j CT --notrack`
    name: ClassVar[str] = "NOTRACK"  # type: ignore[misc]
    tables: ClassVar[tuple[str, ...] | None] = ("raw",)

    @property
    def list_name(self) -> str:
        return "CT"

    def apply(self, ctx: MatchContext) -> TargetResult:
        ctx.notrack = True
        return _CONTINUE

    def save_args(self) -> list[str]:
        return ["-j", "CT", "--notrack"] if self.ct_spelling else ["-j", "NOTRACK"]

    def list_text(self, numeric: bool = True) -> str:
        return "CT notrack" if self.ct_spelling else "NOTRACK"


@dataclass
class CtTarget(NotrackTarget):
    """CT: only `--notrack` is modelled; a bare `-j CT` does nothing."""

    ct_spelling: bool = True
    notrack: bool = False
    name: ClassVar[str] = "CT"  # type: ignore[misc]
    options: ClassVar[dict[str, tuple[str, int]]] = {"--notrack": ("notrack", 0)}

    def set_option(self, option: str, args: list[str], inverted: bool) -> None:
        self.notrack = True

    def apply(self, ctx: MatchContext) -> TargetResult:
        return super().apply(ctx) if self.notrack else _CONTINUE

    def save_args(self) -> list[str]:
        return ["-j", "CT", "--notrack"] if self.notrack else ["-j", "CT"]

    def list_text(self, numeric: bool = True) -> str:
        return "CT notrack" if self.notrack else "CT"


TARGETS: dict[str, type[Target]] = {
    cls.name: cls
    for cls in (
        RejectTarget,
        MarkTarget,
        ConnmarkTarget,
        LogTarget,
        TraceTarget,
        NotrackTarget,
        CtTarget,
        DnatTarget,
        SnatTarget,
        MasqueradeTarget,
        RedirectTarget,
    )
}
STANDARD_VERDICTS = {"ACCEPT": Verdict.ACCEPT, "DROP": Verdict.DROP, "RETURN": Verdict.RETURN}


def _check_registry() -> None:
    """Every registered target parses what it prints and can be applied."""
    for name, cls in TARGETS.items():
        assert cls.name == name, f"target {cls.__name__} registered as {name!r}"
        assert not getattr(cls, "__abstractmethods__", None), f"target {name!r} cannot apply"
        has_parser = cls.set_option is not Target.set_option
        assert has_parser or not cls.options, f"target {name!r} has options but no parser"


_check_registry()
