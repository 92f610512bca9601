"""Command-line flags the way kubectl (cobra + spf13/pflag) reads them, with pflag's errors.

Accepted spellings: `--name=value`, `--name value`, `-n value`, `-nvalue`, `-n=value`,
bundled booleans (`-Aw`), `--` ending the flags. Errors use pflag's wording (`unknown flag:
--foo`, `unknown shorthand flag: 'z' in -z`, `flag needs an argument: 'n' in -n`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class FlagError(Exception):
    """A flag problem; kubectl prints `error: <message>` and a `See '... --help'` hint."""


@dataclass(frozen=True)
class Flag:
    name: str
    short: str = ""
    takes_value: bool = True
    default: str | bool | None = None


@dataclass
class Parsed:
    args: list[str] = field(default_factory=list)
    values: dict[str, str | bool | None] = field(default_factory=dict)
    given: set[str] = field(default_factory=set)

    def get(self, name: str) -> str | bool | None:
        return self.values.get(name)


_TRUE = {"true", "1", "t", "T", "TRUE", "True"}
_FALSE = {"false", "0", "f", "F", "FALSE", "False"}


def _bool(flag: Flag, text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FlagError(
        f'invalid argument "{text}" for "--{flag.name}" flag: strconv.ParseBool: parsing "{text}": '
        "invalid syntax"
    )


def parse(argv: list[str], flags: list[Flag]) -> Parsed:
    """Split argv into positional args and flag values (flags may appear anywhere)."""
    by_long = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    out = Parsed(values={f.name: f.default for f in flags})
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            out.args += argv[i:]
            break
        if token.startswith("--"):
            i = _long(token, argv, i, by_long, out)
        elif token.startswith("-") and len(token) > 1:
            i = _short(token, argv, i, by_short, out)
        else:
            out.args.append(token)
    return out


def _store(out: Parsed, flag: Flag, value: str | bool) -> None:
    out.values[flag.name] = value
    out.given.add(flag.name)


def _long(token: str, argv: list[str], i: int, by_long: dict[str, Flag], out: Parsed) -> int:
    name, eq, value = token[2:].partition("=")
    flag = by_long.get(name)
    if flag is None:
        raise FlagError(f"unknown flag: --{name}")
    if not flag.takes_value:
        _store(out, flag, _bool(flag, value) if eq else True)
        return i
    if not eq:
        if i >= len(argv):
            raise FlagError(f"flag needs an argument: --{name}")
        value, i = argv[i], i + 1
    _store(out, flag, value)
    return i


def _short(token: str, argv: list[str], i: int, by_short: dict[str, Flag], out: Parsed) -> int:
    letters = token[1:]
    pos = 0
    while pos < len(letters):
        letter = letters[pos]
        flag = by_short.get(letter)
        if flag is None:
            raise FlagError(f"unknown shorthand flag: '{letter}' in {token}")
        rest = letters[pos + 1 :]
        if not flag.takes_value:
            if rest.startswith("="):
                _store(out, flag, _bool(flag, rest[1:]))
                return i
            _store(out, flag, True)
            pos += 1
            continue
        if rest:
            _store(out, flag, rest[1:] if rest.startswith("=") else rest)
            return i
        if i >= len(argv):
            raise FlagError(f"flag needs an argument: '{letter}' in {token}")
        _store(out, flag, argv[i])
        return i + 1
    return i
