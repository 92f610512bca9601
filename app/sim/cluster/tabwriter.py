"""A port of Go's text/tabwriter cell alignment, which kubectl's printers write through.

Cells are tab-terminated; the last cell of a line is not part of any column. A column block is
a run of consecutive lines that all have a cell in that column; its width is the widest cell
plus `padding`, at least `minwidth`. `kubectl get` uses minwidth 6, padding 3
(printers.GetNewTabWriter); `kubectl describe` uses minwidth 0, padding 2.
"""

from __future__ import annotations


def _width(text: str) -> int:
    # Go's tabwriter counts runes (utf8.RuneCount), not display cells.
    return len(text)


def align(text: str, *, minwidth: int = 6, padding: int = 3) -> str:
    """Align tab-separated `text` (lines end with '\\n') the way tabwriter.Flush would."""
    lines = [line.split("\t") for line in text.split("\n")]
    widths: list[list[int]] = [[] for _ in lines]
    _format(lines, widths, 0, len(lines), 0, minwidth, padding)
    out = []
    for cells, cell_widths in zip(lines, widths, strict=True):
        parts = [cell.ljust(width) for cell, width in zip(cells, cell_widths, strict=False)]
        out.append("".join(parts) + cells[-1])
    return "\n".join(out)


def _format(
    lines: list[list[str]],
    widths: list[list[int]],
    line0: int,
    line1: int,
    column: int,
    minwidth: int,
    padding: int,
) -> None:
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        start = this
        width = minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, _width(lines[this][column]) + padding)
            this += 1
        for index in range(start, this):
            widths[index].append(width)
        _format(lines, widths, start, this, column + 1, minwidth, padding)


def table(rows: list[list[str]]) -> str:
    """A `kubectl get` table: rows (header first) aligned, newline-terminated."""
    return align("\n".join("\t".join(row) for row in rows)) + "\n"
