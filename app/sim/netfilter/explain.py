"""Step explanations in 简体中文 and English: why a rule matched or not, and what followed.

The engine hands over facts (the rule's arguments as iptables-save prints them, the first
match that failed, the verdict, the packet); this module only words them. Terms of the
trade (chain, DNAT, MASQUERADE, policy, ACCEPT) keep their English spelling in Chinese.
"""

from __future__ import annotations

from app.sim.packet import Packet

# Options whose value the packet carries, so a failed match can show the packet's side.
_PACKET_FIELD = {
    "-s": "src",
    "-d": "dst",
    "-p": "proto",
    "--sport": "sport",
    "--dport": "dport",
    "--source-port": "sport",
    "--destination-port": "dport",
    "--mark": "mark",
    "--dst-type": "dst",
    "--src-type": "src",
}
# `-m NAME` words that add nothing to a sentence (the option after them says it all).
_SILENT_MODULES = {"tcp", "udp"}


def describe(args: list[str]) -> str:
    """A match list as a learner reads it: `-m tcp` and comments dropped, the rest verbatim."""
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "-m" and i + 1 < len(args) and args[i + 1] in _SILENT_MODULES | {"comment"}:
            i += 2
            continue
        if token == "--comment":
            i += 2
            continue
        out.append(token)
        i += 1
    return " ".join(out)


def _packet_value(args: list[str], packet: Packet, in_iface: str | None, out_iface: str | None):
    for option in args:
        if option == "-i":
            return "in", in_iface or "-"
        if option == "-o":
            return "out", out_iface or "-"
        name = _PACKET_FIELD.get(option)
        if name:
            value = getattr(packet, name)
            return name, hex(value) if name == "mark" else value
    return None


def miss(failed: list[str], packet: Packet, in_iface: str | None, out_iface: str | None):
    """A rule that did not match: name the first failing match and the packet's value."""
    text = describe(failed) or " ".join(failed)
    seen = _packet_value(failed, packet, in_iface, out_iface)
    if "statistic" in failed:
        # Not a property of the packet: a random draw, or the rule's own counter (nth).
        why_en, why_zh = (
            ("not this packet's turn in the count", "计数未轮到这个数据包")
            if "nth" in failed
            else ("the random draw did not pick this rule", "随机抽取未选中该规则")
        )
        en = f"does not match: {text} ({why_en}); next rule"
        zh = f"不匹配：{text}（{why_zh}），继续下一条规则"
    elif seen:
        en = f"does not match: {text} (packet {seen[0]} {seen[1]}); next rule"
        zh = f"不匹配：{text}（数据包 {seen[0]} 为 {seen[1]}），继续下一条规则"
    else:
        en = f"does not match: {text}; next rule"
        zh = f"不匹配：{text}，继续下一条规则"
    return {"zh": zh, "en": en}


def hit(args: list[str], verdict: str, packet: Packet, detail: str | None = None):
    """A rule that matched: what matched and what its target did."""
    text = describe(args)
    en_what = f"matches {text}" if text else "matches every packet (no conditions)"
    zh_what = f"匹配 {text}" if text else "无匹配条件，所有数据包都匹配"
    en_do, zh_do = _verdict_words(verdict, packet, detail)
    return {"zh": f"{zh_what}，{zh_do}", "en": f"{en_what}, {en_do}"}


def _verdict_words(verdict: str, packet: Packet, detail: str | None) -> tuple[str, str]:
    if verdict.startswith("JUMP:"):
        chain = verdict[5:]
        return f"jumps to {chain}", f"跳转到 {chain}"
    if verdict.startswith("GOTO:"):
        chain = verdict[5:]
        return (
            f"goes to {chain} (no return to this chain)",
            f"转到（goto）{chain}，不再返回本链",
        )
    dst = f"{packet.dst}:{packet.dport}"
    src = f"{packet.src}:{packet.sport}"
    words = {
        "ACCEPT": ("ACCEPT: this table is done at this hook", "ACCEPT：本表在此 hook 的处理结束"),
        "DROP": ("DROP: the packet is discarded", "DROP：数据包被丢弃"),
        "REJECT": (
            f"REJECT: sends {detail or 'an error'} back and drops the packet",
            f"REJECT：回送 {detail or '错误'} 并丢弃数据包",
        ),
        "RETURN": (
            (
                "RETURN in a builtin chain: its policy decides",
                "内置链中的 RETURN：由该链的默认策略决定",
            )
            if detail == "builtin"
            else ("RETURN: back to the calling chain", "RETURN：返回调用它的链")
        ),
        "CONTINUE": (
            f"{detail or 'no target'} does not end the chain; next rule",
            f"{detail or '无 target'} 不终止链，继续下一条规则",
        ),
        "DNAT": (f"DNAT: destination becomes {dst}", f"DNAT：目的地址改为 {dst}"),
        "REDIRECT": (f"REDIRECT: destination becomes {dst}", f"REDIRECT：目的地址改为 {dst}"),
        "SNAT": (f"SNAT: source becomes {src}", f"SNAT：源地址改为 {src}"),
        "MASQUERADE": (
            f"MASQUERADE: source becomes {src}, the outgoing interface's address",
            f"MASQUERADE：源地址改为出接口地址 {src}",
        ),
    }
    return words.get(verdict, (verdict, verdict))


def policy(chain: str, verdict: str, after_return: bool = False) -> dict[str, str]:
    """The policy of a builtin chain decided (end of chain, or RETURN in a builtin chain)."""
    if after_return:
        return {
            "en": f"RETURN in builtin chain {chain}: its policy {verdict} applies",
            "zh": f"内置链 {chain} 中的 RETURN：应用该链的默认策略（policy）{verdict}",
        }
    return {
        "en": f"end of builtin chain {chain}: its policy {verdict} applies",
        "zh": f"到达内置链 {chain} 末尾：应用默认策略（policy）{verdict}",
    }


def fell_off(chain: str) -> dict[str, str]:
    """The packet fell off the end of a user chain."""
    return {
        "en": f"end of user chain {chain}: back to the calling chain",
        "zh": f"用户自定义链 {chain} 结束：返回调用它的链",
    }
