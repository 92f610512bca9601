"""The small Markdown subset lesson prose uses, rendered to safe HTML: paragraphs, `- `
lists, `|` tables, **bold** and `code`. Text is escaped before any markup is added, so a
lesson file can never inject HTML."""

from __future__ import annotations

import html
import re

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def inline(text: str) -> str:
    """One line: escaped, then `code` and **bold**."""
    out = html.escape(text, quote=False)
    out = _CODE.sub(r"<code>\1</code>", out)
    return _BOLD.sub(r"<strong>\1</strong>", out)


def _table(lines: list[str]) -> str:
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    body = [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
    head = "".join(f"<th scope='col'>{inline(c)}</th>" for c in rows[0])
    cells = "".join(
        "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"


def _block(lines: list[str]) -> str:
    if all(line.lstrip().startswith("|") for line in lines):
        return _table(lines)
    if all(line.lstrip().startswith("- ") for line in lines):
        items = "".join(f"<li>{inline(line.lstrip()[2:])}</li>" for line in lines)
        return f"<ul>{items}</ul>"
    return f"<p>{inline(' '.join(line.strip() for line in lines))}</p>"


def render(text: str) -> str:
    """Blocks are separated by blank lines."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return "\n".join(_block(b) for b in blocks)
