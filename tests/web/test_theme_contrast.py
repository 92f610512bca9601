"""Both colour themes meet WCAG 2.2 contrast: 4.5:1 for text, 3:1 for focus rings and controls."""

from __future__ import annotations

import re

import pytest

from app.config import ROOT

CSS = (ROOT / "static" / "css" / "app.css").read_text()
# (foreground, background, minimum ratio) for every pairing the stylesheet uses.
PAIRS = [
    ("text", "bg", 4.5),
    ("text", "surface", 4.5),
    ("text", "surface-2", 4.5),
    ("muted", "bg", 4.5),
    ("muted", "surface", 4.5),
    ("muted", "surface-2", 4.5),
    ("accent", "bg", 4.5),
    ("accent", "surface", 4.5),
    ("accent", "accent-soft", 4.5),
    ("accent-text", "accent", 4.5),
    ("teal", "bg", 4.5),
    ("surface", "teal", 4.5),  # badge text on a teal pill
    ("text", "teal-soft", 4.5),
    ("focus", "bg", 3.0),
    ("focus", "surface", 3.0),
]


def _palette(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", block))


def _themes() -> dict[str, dict[str, str]]:
    light = _palette(CSS.split("@media (prefers-color-scheme: dark)")[0])
    dark_block = CSS.split("@media (prefers-color-scheme: dark)")[1].split("\n}\n")[0]
    return {"light": light, "dark": {**light, **_palette(dark_block)}}


def _luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_wcag_reference_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_theme_pairs_are_readable(theme: str) -> None:
    palette = _themes()[theme]
    failures = [
        f"{fg} on {bg}: {ratio:.2f} < {minimum}"
        for fg, bg, minimum in PAIRS
        if (ratio := contrast(palette[fg], palette[bg])) < minimum
    ]
    assert failures == []
