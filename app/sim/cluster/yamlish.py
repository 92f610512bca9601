"""A small YAML subset: read manifests for `kubectl apply -f -`, write `kubectl get -o yaml`.

`app.sim` uses only the standard library, so it cannot use PyYAML. The reader accepts JSON
and the block YAML that Kubernetes manifests use: mappings, sequences (`- ` items, including
`- key: value` items), `---` documents, comments, plain/single/double-quoted scalars, flow
`[a, b]` and `{k: v}` collections, and `|`/`>` block scalars. Anchors, aliases, tags and
multi-line plain scalars are not supported and raise `YamlError`.

The writer produces what kubectl prints (sigs.k8s.io/yaml over go-yaml v2): keys sorted,
sequences not indented under their key, strings that would read back as another type quoted.
"""

from __future__ import annotations

import json
import re
from typing import Any


class YamlError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"yaml: line {line}: {message}")
        self.line = line


# -- writer ----------------------------------------------------------------------------------

_AMBIGUOUS = re.compile(
    r"^(?:[-+]?(?:\d[\d_]*)?\.?\d+(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o?[0-7]+|"
    r"y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
    r"null|Null|NULL|~|=|<<|\.inf|\.Inf|\.INF|-\.inf|\.nan|\.NaN|"
    r"\d{4}-\d\d?-\d\d?(?:[Tt ].*)?)$"
)
_BLOCK_STYLES = ("|", "|-", "|+", ">", ">-", ">+")
_INDICATORS = set(",[]{}#&*!|>'\"%@`")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text == "" or _AMBIGUOUS.match(text):
        return json.dumps(text)
    if "\n" in text or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    # go-yaml's analyze_scalar: `-`, `?` and `:` only count as indicators before a space.
    lead = text[0] in _INDICATORS or (text[0] in "-?:" and text[1:2] in ("", " "))
    plain_ok = not (lead or text[0] == " " or text[-1] == " " or ": " in text or " #" in text)
    plain_ok = plain_ok and not text.endswith(":")
    return text if plain_ok else "'" + text.replace("'", "''") + "'"


def _key(key: str) -> str:
    return _scalar(key)


def dump(value: Any, indent: int = 0) -> str:
    """Serialise dicts/lists/scalars as kubectl's `-o yaml` does; the result ends with '\\n'."""
    return "".join(_lines(value, indent))


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}\n"]
        out = []
        for key in sorted(value):
            out += _entry(pad + _key(key) + ":", value[key], indent, in_list=False)
        return out
    if isinstance(value, list):
        if not value:
            return [pad + "[]\n"]
        out = []
        for item in value:
            out += _item(item, indent)
        return out
    return [pad + _scalar(value) + "\n"]


def _literal(head: str, text: str, indent: int) -> list[str]:
    """A multi-line string as a `|` block, the style go-yaml picks for it."""
    chomp = "" if text.endswith("\n") else "-"
    body = text[:-1] if text.endswith("\n") else text
    pad = " " * (indent + 2)
    return [f"{head} |{chomp}\n", *[(pad + line).rstrip(" ") + "\n" for line in body.split("\n")]]


def _multiline(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value and value.replace("\n", "").isprintable()


def _entry(head: str, value: Any, indent: int, in_list: bool) -> list[str]:
    if _multiline(value):
        return _literal(head, value, indent)
    if isinstance(value, dict) and value:
        return [head + "\n", *_lines(value, indent + 2)]
    if isinstance(value, list) and value:
        return [head + "\n", *_lines(value, indent)]  # go-yaml v2: `- ` at the key's column
    text = "{}" if value == {} else "[]" if value == [] else _scalar(value)
    return [f"{head} {text}\n"]


def _item(item: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(item, dict) and item:
        body = _lines(item, indent + 2)
        return [pad + "- " + body[0].lstrip(" "), *body[1:]]
    if isinstance(item, list) and item:
        body = _lines(item, indent + 2)
        return [pad + "- " + body[0].lstrip(" "), *body[1:]]
    if _multiline(item):
        return _literal(pad + "-", item, indent)
    return [pad + "- " + _lines(item, 0)[0]]


# -- reader ----------------------------------------------------------------------------------


def load_all(text: str) -> list[Any]:
    """Every document in `text` (JSON, or `---`-separated YAML); empty documents dropped."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            return [json.loads(stripped)]
        except json.JSONDecodeError:
            pass  # not JSON after all: it may be a YAML flow collection
    docs: list[list[tuple[int, str]]] = [[]]
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.rstrip() == "---" or raw.startswith("--- "):
            docs.append([])
            continue
        if raw.rstrip() in ("...",):
            continue
        docs[-1].append((number, raw.rstrip("\r")))
    result = []
    for lines in docs:
        value = _Reader(lines).document()
        if value is not None:
            result.append(value)
    return result


def _strip_comment(line: str) -> str:
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and (i == 0 or line[i - 1] in " -:[{,"):
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


class _Reader:
    """Indentation-driven recursive descent over the lines of one document."""

    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.raw = lines
        self.lines = [(n, _strip_comment(t)) for n, t in lines]
        self.lines = [(n, t) for n, t in self.lines if t.strip()]
        self.pos = 0

    def document(self) -> Any:
        if not self.lines:
            return None
        number, text = self.lines[0]
        if "\t" in text[: len(text) - len(text.lstrip())]:
            raise YamlError(number, "found character that cannot start any token")
        value = self.block(_indent(text))
        if self.pos < len(self.lines):
            raise YamlError(self.lines[self.pos][0], "did not find expected key")
        return value

    def block(self, indent: int) -> Any:
        number, text = self.lines[self.pos]
        body = text.strip()
        if body == "-" or body.startswith("- "):
            return self.sequence(indent)
        if _split_key(body) is not None:
            return self.mapping(indent)
        self.pos += 1
        return parse_scalar(body, number)

    def sequence(self, indent: int) -> list[Any]:
        items = []
        while self.pos < len(self.lines):
            number, text = self.lines[self.pos]
            if _indent(text) != indent or not (
                text.strip() == "-" or text.strip().startswith("- ")
            ):
                break
            rest = text.strip()[1:].lstrip(" ")
            if rest in _BLOCK_STYLES:
                self.pos += 1
                items.append(self.block_scalar(indent, rest))
                continue
            if not rest:
                self.pos += 1
                items.append(self.child(indent, number))
                continue
            # `- key: value`: the item is a mapping whose keys sit two columns in.
            inner = indent + (len(text.strip()) - len(rest))
            self.lines[self.pos] = (number, " " * inner + rest)
            items.append(self.block(inner))
        return items

    def mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self.pos < len(self.lines):
            number, text = self.lines[self.pos]
            if _indent(text) < indent:
                break
            if _indent(text) > indent:
                raise YamlError(number, "mapping values are not allowed in this context")
            split = _split_key(text.strip())
            if split is None:
                raise YamlError(number, "could not find expected ':'")
            key, rest = split
            self.pos += 1
            if key in result:
                raise YamlError(number, f'mapping key "{key}" already defined')
            if rest in _BLOCK_STYLES:
                result[key] = self.block_scalar(indent, rest)
            elif rest:
                result[key] = parse_scalar(rest, number)
            else:
                result[key] = self.child(indent, number, allow_same=True)
        return result

    def child(self, indent: int, number: int, allow_same: bool = False) -> Any:
        """The nested block after `key:` or `-`; a sequence may sit at the key's own column."""
        if self.pos >= len(self.lines):
            return None
        text = self.lines[self.pos][1]
        deeper = _indent(text) > indent
        same_seq = allow_same and _indent(text) == indent and text.strip().startswith("-")
        if deeper or same_seq:
            return self.block(_indent(text))
        return None

    def block_scalar(self, indent: int, style: str) -> str:
        number = self.lines[self.pos - 1][0]
        raw = [t for n, t in self.raw if n > number]
        body: list[str] = []
        for text in raw:
            if text.strip() and _indent(text) <= indent:
                break
            body.append(text)
        while self.pos < len(self.lines) and self.lines[self.pos][0] <= number + len(body):
            self.pos += 1
        while body and not body[-1].strip():
            body.pop()
        cut = min((_indent(t) for t in body if t.strip()), default=0)
        lines = [t[cut:] for t in body]
        text = "\n".join(lines) if style.startswith("|") else " ".join(x.strip() for x in lines)
        return text if style.endswith("-") else text + "\n"


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _split_key(body: str) -> tuple[str, str] | None:
    """`key: rest` -> (key, rest); None when the line is not a mapping entry."""
    if body[:1] in "\"'":
        close = body.find(body[0], 1)
        if (
            close > 0
            and body[close + 1 : close + 2] == ":"
            and body[close + 2 : close + 3] in ("", " ")
        ):
            return body[1:close], body[close + 2 :].strip()
        return None
    if body[:1] in "[{":
        return None
    match = re.match(r"^([^:#]+?|[^\s:][^#]*?)\s*:(?:\s+|$)(.*)$", body)
    if not match or ": " in match.group(1):
        return None
    return match.group(1), match.group(2).strip()


def parse_scalar(text: str, line: int) -> Any:
    """A flow value: quoted string, `[..]`, `{..}`, number, bool, null or plain string."""
    value, end = _flow(text, 0, line)
    if isinstance(value, str) and text[:1] not in "\"'[{" and ": " in value:
        raise YamlError(line, "mapping values are not allowed in this context")
    if text[end:].strip():
        raise YamlError(line, "did not find expected <document start>")
    return value


def _flow(text: str, pos: int, line: int) -> tuple[Any, int]:
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos >= len(text):
        return None, pos
    char = text[pos]
    if char == '"':
        end = pos + 1
        while end < len(text) and text[end] != '"':
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            raise YamlError(line, "found unexpected end of stream")
        return json.loads(text[pos : end + 1]), end + 1
    if char == "'":
        end, parts = pos + 1, []
        while True:
            close = text.find("'", end)
            if close < 0:
                raise YamlError(line, "found unexpected end of stream")
            parts.append(text[end:close])
            if text[close + 1 : close + 2] == "'":
                parts.append("'")
                end = close + 2
                continue
            return "".join(parts), close + 1
    if char in "[{":
        return _collection(text, pos, line)
    end = pos
    stops = ",]}" if _in_flow(text, pos) else ""
    while end < len(text) and text[end] not in stops:
        end += 1
    return _plain(text[pos:end].strip()), end


def _in_flow(text: str, pos: int) -> bool:
    return text[:pos].count("[") + text[:pos].count("{") > text[:pos].count("]") + text[:pos].count(
        "}"
    )


def _collection(text: str, pos: int, line: int) -> tuple[Any, int]:
    close = "]" if text[pos] == "[" else "}"
    items: list[Any] = []
    mapping: dict[str, Any] = {}
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " ,":
            pos += 1
        if pos >= len(text):
            raise YamlError(line, f"did not find expected ',' or '{close}'")
        if text[pos] == close:
            return (items if close == "]" else mapping), pos + 1
        if close == "]":
            value, pos = _flow(text, pos, line)
            items.append(value)
            continue
        colon = text.find(":", pos)
        if colon < 0:
            raise YamlError(line, "did not find expected ':'")
        key = _plain(text[pos:colon].strip().strip("\"'"))
        value, pos = _flow(text, colon + 1, line)
        mapping[str(key)] = value


def _plain(text: str) -> Any:
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text
