"""Explain a parsed rule option by option, in English and Chinese ("explain this rule").

`describe_rule(rule)` walks the engine's own model (each match's and the target's
`save_args()`, as iptables-save prints them) and gives one item per option group:
`{"text": "-m tcp --dport 8080", "en": "...", "zh": "..."}`. The web layer only shows
these items, so the meaning of an option is stated once, here, next to the parser.
Wording follows iptables(8) and iptables-extensions(8).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from fractions import Fraction

from app.sim.netfilter.commands import run_iptables
from app.sim.netfilter.model import TABLE_NAMES, Chain, Extension, Rule, Ruleset, Table, Target
from app.sim.netfilter.parse import parse_command
from app.sim.netfilter.render import rule_line
from app.sim.netfilter.targets import JumpTarget, VerdictTarget

Text = tuple[str, str]  # (en, zh); "{v}" is replaced by the option's arguments

# What each builtin flag means (iptables(8), PARAMETERS).
BUILTIN: dict[str, Text] = {
    "-s": ("source address is {v}", "源地址为 {v}"),
    "-d": ("destination address is {v}", "目的地址为 {v}"),
    "-i": ("arrives on interface {v}", "从接口 {v} 进入"),
    "-o": ("leaves by interface {v}", "从接口 {v} 发出"),
    "-p": ("protocol is {v}", "协议为 {v}"),
}

# One line per module / target: what loading it is for (iptables-extensions(8)).
MODULES: dict[str, Text] = {
    "tcp": ("tcp match (TCP header fields)", "tcp 匹配（TCP 头字段）"),
    "udp": ("udp match (UDP header fields)", "udp 匹配（UDP 头字段）"),
    "sctp": ("sctp match (SCTP header fields)", "sctp 匹配（SCTP 头字段）"),
    "multiport": ("multiport match (up to 15 ports)", "multiport 匹配（最多 15 个端口）"),
    "comment": ("comment: no effect on packets, a note for humans", "注释：不影响数据包，只给人看"),
    "mark": ("mark match (the packet's fwmark)", "mark 匹配（数据包的 fwmark）"),
    "addrtype": (
        "addrtype match (address type per the routing table)",
        "addrtype 匹配（按路由表判断地址类型）",
    ),
    "conntrack": ("conntrack match (connection tracking state)", "conntrack 匹配（连接跟踪状态）"),
    "state": (
        "state match (old alias of conntrack --ctstate)",
        "state 匹配（conntrack --ctstate 的旧写法）",
    ),
    "statistic": ("statistic match (random or every-nth)", "statistic 匹配（随机或每第 n 个）"),
    "recent": (
        "recent match (a list of recently seen addresses)",
        "recent 匹配（最近见过的地址列表）",
    ),
    "set": ("set match (an ipset lookup)", "set 匹配（查 ipset 集合）"),
    "nfacct": (
        "nfacct match (counts into a named accounting object)",
        "nfacct 匹配（计入一个命名计数对象）",
    ),
    "physdev": ("physdev match (bridge ports)", "physdev 匹配（网桥端口）"),
    "ipvs": ("ipvs match (IPVS connection properties)", "ipvs 匹配（IPVS 连接属性）"),
    "REJECT": (
        "REJECT: drop the packet and answer with an error",
        "REJECT：丢弃数据包并回一个错误",
    ),
    "MARK": (
        "MARK: change the packet's fwmark, then continue",
        "MARK：修改数据包的 fwmark，然后继续",
    ),
    "CONNMARK": (
        "CONNMARK: change the connection's mark, then continue",
        "CONNMARK：修改连接的 mark，然后继续",
    ),
    "LOG": (
        "LOG: log the packet to the kernel log, then continue",
        "LOG：把数据包写进内核日志，然后继续",
    ),
    "TRACE": (
        "TRACE: trace the packet through every rule (raw table)",
        "TRACE：跟踪数据包经过的每条规则（raw 表）",
    ),
    "NOTRACK": (
        "NOTRACK: do not track this connection (raw table)",
        "NOTRACK：不跟踪此连接（raw 表）",
    ),
    "CT": (
        "CT: set conntrack options for the packet (raw table)",
        "CT：为数据包设置连接跟踪选项（raw 表）",
    ),
    "DNAT": (
        "DNAT: rewrite the destination address (first packet of a connection)",
        "DNAT：改写目的地址（连接的第一个包）",
    ),
    "SNAT": (
        "SNAT: rewrite the source address (first packet of a connection)",
        "SNAT：改写源地址（连接的第一个包）",
    ),
    "MASQUERADE": (
        "MASQUERADE: SNAT to the outgoing interface's address",
        "MASQUERADE：SNAT 为出接口的地址",
    ),
    "REDIRECT": ("REDIRECT: DNAT to the node itself", "REDIRECT：DNAT 到本机"),
}  # fmt: skip

# Each option by (module, canonical option name) as the registries spell it.
OPTIONS: dict[tuple[str, str], Text] = {
    ("tcp", "destination-port"): ("destination port is {v}", "目的端口为 {v}"),
    ("tcp", "source-port"): ("source port is {v}", "源端口为 {v}"),
    ("tcp", "syn"): (
        "only SYN set of SYN,RST,ACK,FIN (a new connection)",
        "SYN,RST,ACK,FIN 中只有 SYN（新连接）",
    ),
    ("tcp", "tcp-flags"): (
        "of the flags {v0}, exactly {v1} are set",
        "在标志 {v0} 中恰好设置了 {v1}",
    ),
    ("udp", "destination-port"): ("destination port is {v}", "目的端口为 {v}"),
    ("udp", "source-port"): ("source port is {v}", "源端口为 {v}"),
    ("sctp", "destination-port"): ("destination port is {v}", "目的端口为 {v}"),
    ("sctp", "source-port"): ("source port is {v}", "源端口为 {v}"),
    ("multiport", "dports"): ("destination port is one of {v}", "目的端口是 {v} 之一"),
    ("multiport", "sports"): ("source port is one of {v}", "源端口是 {v} 之一"),
    ("multiport", "ports"): ("source or destination port is one of {v}", "源或目的端口是 {v} 之一"),
    ("comment", "comment"): ("the note reads {v}", "注释内容：{v}"),
    ("mark", "mark"): ("fwmark & mask equals value ({v})", "fwmark 与掩码按位与后等于值（{v}）"),
    ("addrtype", "src-type"): ("source address type is {v}", "源地址类型为 {v}"),
    ("addrtype", "dst-type"): (
        "destination address type is {v} (LOCAL: an address of this node)",
        "目的地址类型为 {v}（LOCAL：本机地址）",
    ),
    ("addrtype", "limit-iface-in"): (
        "look the type up on the incoming interface only",
        "只在入接口上判断类型",
    ),
    ("addrtype", "limit-iface-out"): (
        "look the type up on the outgoing interface only",
        "只在出接口上判断类型",
    ),
    ("conntrack", "ctstate"): ("connection state is {v}", "连接状态为 {v}"),
    ("conntrack", "ctstatus"): ("connection status has {v}", "连接状态位包含 {v}"),
    ("state", "state"): ("connection state is {v}", "连接状态为 {v}"),
    ("statistic", "mode"): ("mode {v}", "模式 {v}"),
    ("statistic", "probability"): ("matches with probability {v}", "以概率 {v} 匹配"),
    ("statistic", "every"): ("matches every {v}th packet", "每第 {v} 个包匹配一次"),
    ("statistic", "packet"): ("counter starts at {v}", "计数器从 {v} 开始"),
    ("recent", "name"): ("list name {v}", "列表名 {v}"),
    ("recent", "set"): (
        "add the address to the list (always matches)",
        "把地址加入列表（总是匹配）",
    ),
    ("recent", "rcheck"): ("match if the address is in the list", "地址在列表中则匹配"),
    ("recent", "update"): (
        "match if in the list, and refresh its time",
        "在列表中则匹配，并刷新时间",
    ),
    ("recent", "remove"): ("match if in the list, and remove it", "在列表中则匹配，并将其删除"),
    ("recent", "seconds"): ("only if seen within the last {v} seconds", "只在最近 {v} 秒内见过时"),
    ("recent", "hitcount"): ("only if seen at least {v} times", "只在至少见过 {v} 次时"),
    ("recent", "reap"): ("forget entries older than --seconds", "清除早于 --seconds 的条目"),
    ("recent", "rsource"): ("use the source address (the client)", "使用源地址（客户端）"),
    ("recent", "rdest"): ("use the destination address", "使用目的地址"),
    ("recent", "mask"): ("compare addresses under mask {v}", "按掩码 {v} 比较地址"),
    ("set", "match-set"): ("ipset {v0} holds the packet's {v1}", "ipset {v0} 包含数据包的 {v1}"),
    ("nfacct", "nfacct-name"): ("count into {v}", "计入 {v}"),
    ("physdev", "physdev-is-in"): ("entered through a bridge port", "从网桥端口进入"),
    ("physdev", "physdev-is-out"): ("leaves through a bridge port", "从网桥端口发出"),
    ("physdev", "physdev-is-bridged"): ("is being bridged, not routed", "正被桥接而非路由"),
    ("ipvs", "vaddr"): ("IPVS virtual address is {v}", "IPVS 虚拟地址为 {v}"),
    ("ipvs", "vport"): ("IPVS virtual port is {v}", "IPVS 虚拟端口为 {v}"),
    ("ipvs", "vproto"): ("IPVS protocol is {v}", "IPVS 协议为 {v}"),
    ("REJECT", "reject-with"): ("answer with {v}", "回复 {v}"),
    ("MARK", "set-xmark"): (
        "mark = (mark & ~mask) ^ value ({v})",
        "mark = (mark & ~掩码) ^ 值（{v}）",
    ),
    ("MARK", "set-mark"): ("set the mark to {v}", "把 mark 设为 {v}"),
    ("MARK", "or-mark"): ("OR {v} into the mark", "把 {v} 按位或进 mark"),
    ("MARK", "and-mark"): ("AND the mark with {v}", "mark 与 {v} 按位与"),
    ("MARK", "xor-mark"): ("XOR the mark with {v}", "mark 与 {v} 按位异或"),
    ("CONNMARK", "set-xmark"): (
        "ctmark = (ctmark & ~mask) ^ value ({v})",
        "ctmark = (ctmark & ~掩码) ^ 值（{v}）",
    ),
    ("CONNMARK", "set-mark"): ("set the connection mark to {v}", "把连接 mark 设为 {v}"),
    ("CONNMARK", "or-mark"): ("OR {v} into the connection mark", "把 {v} 按位或进连接 mark"),
    ("CONNMARK", "and-mark"): ("AND the connection mark with {v}", "连接 mark 与 {v} 按位与"),
    ("CONNMARK", "xor-mark"): ("XOR the connection mark with {v}", "连接 mark 与 {v} 按位异或"),
    ("CONNMARK", "save-mark"): ("copy the packet mark to the connection", "把包 mark 复制到连接"),
    ("CONNMARK", "restore-mark"): (
        "copy the connection mark to the packet",
        "把连接 mark 复制到包",
    ),
    ("CONNMARK", "mask"): ("under mask {v}", "掩码 {v}"),
    ("CONNMARK", "nfmask"): ("packet-mark mask {v}", "包 mark 掩码 {v}"),
    ("CONNMARK", "ctmask"): ("connection-mark mask {v}", "连接 mark 掩码 {v}"),
    ("LOG", "log-prefix"): ("prefix the log line with {v}", "日志行前缀 {v}"),
    ("LOG", "log-level"): ("log level {v}", "日志级别 {v}"),
    ("CT", "notrack"): ("do not track this connection", "不跟踪此连接"),
    ("DNAT", "to-destination"): ("new destination {v}", "新目的地址 {v}"),
    ("DNAT", "random"): ("random port in the range", "在端口范围内随机选"),
    ("DNAT", "persistent"): ("same client, same address", "同一客户端用同一地址"),
    ("SNAT", "to-source"): ("new source {v}", "新源地址 {v}"),
    ("SNAT", "random"): ("random source port", "随机源端口"),
    ("SNAT", "random-fully"): ("fully random source port", "完全随机的源端口"),
    ("SNAT", "persistent"): ("same client, same address", "同一客户端用同一地址"),
    ("MASQUERADE", "to-ports"): ("source ports {v}", "源端口 {v}"),
    ("MASQUERADE", "random"): ("random source port", "随机源端口"),
    ("MASQUERADE", "random-fully"): (
        "fully random source port (avoids port clashes between connections)",
        "完全随机的源端口（避免连接之间端口冲突）",
    ),
    ("REDIRECT", "to-ports"): ("to port {v}", "到端口 {v}"),
    ("REDIRECT", "random"): ("random port in the range", "在端口范围内随机选"),
}  # fmt: skip

VERDICTS: dict[str, Text] = {
    "ACCEPT": (
        "ACCEPT: stop here and let the packet pass this hook",
        "ACCEPT：到此为止，放行数据包",
    ),
    "DROP": ("DROP: throw the packet away silently", "DROP：静默丢弃数据包"),
    "RETURN": ("RETURN: go back to the calling chain", "RETURN：返回调用它的链"),
}  # fmt: skip
NEGATED: Text = ("NOT: {t}", "取反：{t}")
Item = dict[str, str]


def _fill(text: Text, args: list[str]) -> tuple[str, str]:
    values = {"v": " ".join(args), **{f"v{i}": a for i, a in enumerate(args)}}
    values.setdefault("v1", "")
    return text[0].format(**values), text[1].format(**values)


def _item(tokens: list[str], en: str, zh: str, negated: bool = False) -> Item:
    if negated:
        en, zh = NEGATED[0].format(t=en), NEGATED[1].format(t=zh)
    return {"text": " ".join(tokens), "en": en, "zh": zh}


def _groups(args: list[str]) -> list[tuple[bool, str, list[str]]]:
    """Split save_args after `-m NAME`/`-j NAME` into (negated, --option, arguments)."""
    groups: list[tuple[bool, str, list[str]]] = []
    negated = False
    for token in args:
        if token == "!":
            negated = True
        elif token.startswith("--"):
            groups.append((negated, token, []))
            negated = False
        elif groups:
            groups[-1][2].append(token)
    return groups


def _canonical(ext: Extension, option: str) -> str:
    return ext.options.get(option, (option.removeprefix("--"), 0))[0]


def probability_text(value: str, nat: bool) -> tuple[str, str]:
    """`--probability p`: the kernel keeps lround(p * 2^31) (libxt_statistic.c) and draws a
    random 31-bit number against it; a nat rule only sees a connection's first packet, so
    the choice is made once per connection (kernel-facts.md, conntrack/NAT)."""
    prob = float(value)
    kernel = round(prob * 2**31)
    frac = Fraction(prob).limit_denominator(1000)
    shown = str(frac) if abs(float(frac) - prob) < 1e-9 else f"{prob:g}"
    en = f"matches with probability {shown} (P={kernel}/2^31)"
    zh = f"以概率 {shown} 匹配（P={kernel}/2^31）"
    if nat:
        en += ", drawn once per new connection because nat runs on a connection's first packet"
        zh += "，每个新连接只抽一次，因为 nat 表只处理连接的第一个包"
    else:
        en += ", drawn again for every packet that reaches the rule"
        zh += "，每个到达此规则的包都重新抽取"
    return en, zh


def _is_or(value: str) -> bool:
    """`--set-xmark V/V` sets exactly the bits V: libxt_MARK saves `--or-mark V` so."""
    mark, _, mask = value.partition("/")
    try:
        return bool(mask) and int(mark, 0) == int(mask, 0) != 0
    except ValueError:
        return False


def _option(module: str, ext: Extension, option: str, args: list[str], nat: bool) -> Text:
    name = _canonical(ext, option)
    if (module, name) == ("statistic", "probability") and args:
        try:
            return probability_text(args[0], nat)
        except ValueError:
            pass
    if name == "set-xmark" and args and _is_or(args[0]):
        value = args[0].partition("/")[0]
        return (
            f"turns on the bits {value} (iptables-save's form of --or-mark {value})",
            f"置位 {value}（即 --or-mark {value} 在 iptables-save 中的写法）",
        )
    text = OPTIONS.get((module, name), (f"{option} {{v}}", f"{option} {{v}}"))
    return _fill(text, args)


def _extension(
    head: list[str], ext: Extension, name: str, rest: list[str], nat: bool
) -> list[Item]:
    """Items for `-m NAME opts` or `-j NAME opts`: the first carries the module's line."""
    module_en, module_zh = MODULES.get(name, (name, name))
    groups = _groups(rest)
    if not groups:
        return [_item(head, module_en, module_zh)]
    items = []
    for i, (negated, option, args) in enumerate(groups):
        en, zh = _option(name, ext, option, args, nat)
        if negated:
            en, zh = NEGATED[0].format(t=en), NEGATED[1].format(t=zh)
        tokens = [*(head if i == 0 else []), *(["!"] if negated else []), option, *args]
        if i == 0:
            en, zh = f"{module_en}: {en}", f"{module_zh}：{zh}"
        items.append(_item(tokens, en, zh))
    return items


def _match_items(args: list[str], ext: Extension, nat: bool) -> list[Item]:
    negated = args[0] == "!"
    body = args[1:] if negated else args
    if body and body[0] in BUILTIN:
        en, zh = _fill(BUILTIN[body[0]], body[1:])
        return [_item(args, en, zh, negated)]
    if len(body) >= 2 and body[0] == "-m":
        return _extension(body[:2], ext, body[1], body[2:], nat)
    return [_item(args, " ".join(args), " ".join(args))]


def _target_items(target: Target, nat: bool) -> list[Item]:
    args = target.save_args()
    if isinstance(target, VerdictTarget):
        en, zh = VERDICTS.get(target.name, (target.name, target.name))
        return [_item(args, en, zh)]
    if isinstance(target, JumpTarget):
        if target.goto:
            en = f"goes to chain {target.chain} (a RETURN there skips back past this chain)"
            zh = f"转到链 {target.chain}（在那里 RETURN 会越过本链返回）"
        else:
            en = f"jumps to chain {target.chain}; a RETURN there comes back to the next rule"
            zh = f"跳转到链 {target.chain}；在那里 RETURN 会回到下一条规则"
        return [_item(args, en, zh)]
    return _extension(args[:2], target, target.name, args[2:], nat)


def describe_rule(rule: Rule, chain: str | None = None, table: str | None = None) -> list[Item]:
    """One item per option group of `rule`, in iptables-save order. With `chain`, the first
    item is `-A CHAIN`; `table` lets the statistic match say when its draw happens."""
    nat = table == "nat"
    items: list[Item] = []
    if chain:
        items.append(_item(["-A", chain], f"appends to chain {chain}", f"追加到链 {chain}"))
    for match in rule.matches:
        items.extend(_match_items(match.save_args(), match, nat))
    if rule.target is not None:
        items.extend(_target_items(rule.target, nat))
    return items


# -- live validation of a rule being typed ---------------------------------------------------
# The head of the iptables command each editor operation stands for (iptables(8), COMMANDS).
EDIT_OPS = {"insert": "-I", "append": "-A", "replace": "-R"}
# A quoted word in iptables' wording: `name', "name" or 'name'.
_QUOTED = re.compile(r"[`'\"]([^`'\"\n]+)['\"]")


@dataclass(frozen=True)
class SpecCheck:
    """The answer for a typed rule spec: iptables' own refusal (`message`, `status`) with the
    index of the offending token in `tokens` when the message names one, or the line
    iptables-save would print for the rule (`saved`)."""

    tokens: list[str] = field(default_factory=list)
    status: int = 0
    message: str = ""
    bad: int | None = None
    saved: str = ""
    unclosed: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 0 and not self.unclosed


def _scratch(ruleset: Ruleset, table: str, chain: str) -> Ruleset:
    """A copy of `table` a command may change freely: the edited chain's rule list is
    copied, the rules themselves are shared (a command never mutates an existing rule)."""
    if table not in TABLE_NAMES:
        return Ruleset()
    live = ruleset.tables.get(table) or Table.empty(table)
    copy = Table(live.name, dict(live.chains), set(live.lazy))
    if chain in copy.chains:
        old = copy.chains[chain]
        copy.chains[chain] = Chain(old.name, old.policy, list(old.rules), old.packets, old.bytes)
    return Ruleset({table: copy})


def bad_token(message: str, tokens: list[str]) -> int | None:
    """The token a refusal names (`unknown option "--dportt"`, `Bad argument `x'`,
    `Chain 'X' does not exist`, `invalid port/service `x' specified`), if any."""
    for word in _QUOTED.findall(message):
        for i, token in enumerate(tokens):
            if token == word or token.partition("=")[0] == word:
                return i
    return None


def check_spec(
    ruleset: Ruleset, table: str, chain: str, op: str, spec: str, number: int = 1
) -> SpecCheck:
    """Run `iptables -t TABLE -I/-A/-R CHAIN [N] SPEC` against a scratch copy of the table,
    so the learner sees exactly what the real command would answer, without changing
    anything."""
    try:
        tokens = shlex.split(spec)
    except ValueError:
        return SpecCheck(unclosed=True)
    head = [EDIT_OPS.get(op, "-A"), chain, *([str(number)] if op in ("insert", "replace") else [])]
    argv = ["-t", table, *head, *tokens]
    result = run_iptables(_scratch(ruleset, table, chain), argv)
    if not result.ok:
        message = result.stderr.strip()
        return SpecCheck(tokens, result.status, message, bad_token(message, tokens))
    rule = parse_command(argv).rule
    return SpecCheck(tokens, saved=rule_line(chain, rule) if rule else "")
