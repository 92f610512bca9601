"""Label selectors as `-l` takes them (k8s.io/apimachinery/pkg/labels.Parse, common forms).

`app=web`, `app==web`, `app!=web`, `app`, `!app`, `tier in (fe,be)`, `tier notin (db)`,
comma-separated and all required.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from app.sim.cluster.errors import ClusterError

Requirement = Callable[[dict[str, str]], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"


def _split(text: str) -> list[str]:
    """Split on commas that are not inside `( )`."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts]


def _requirement(text: str) -> Requirement:
    set_match = re.fullmatch(rf"({_KEY})\s+(in|notin)\s+\((.*)\)", text)
    if set_match:
        key, op, values = (
            set_match.group(1),
            set_match.group(3),
            {v.strip() for v in set_match.group(4).split(",")},
        )
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    match = re.fullmatch(rf"(!?)\s*({_KEY})\s*(?:(==|=|!=)\s*({_VALUE}))?", text)
    if not match or (match.group(1) and match.group(4)):
        raise ClusterError(
            f"error: unable to parse requirement: found '{text}', expected: identifier"
        )
    negated, key, op, value = match.group(1), match.group(2), match.group(4), match.group(5) or ""
    if op is None:
        return (lambda labels: key not in labels) if negated else (lambda labels: key in labels)
    if op == "!=":
        return lambda labels: labels.get(key) != value
    return lambda labels: labels.get(key) == value


def parse_selector(text: str) -> Requirement:
    """A predicate over a label dict; raises ClusterError on a malformed selector."""
    requirements = [_requirement(part) for part in _split(text) if part]
    return lambda labels: all(req(labels) for req in requirements)
