"""Translations and language negotiation (简体中文 and English).

Strings live in `en.json` / `zh.json` beside this module, plus one pair of files per area of the
app (`lab.en.json` / `lab.zh.json`, ...) so each area keeps its own strings; all are merged into
one catalog per language, keyed by dotted names (a key defined twice is an error). A test checks
that both files carry the same keys and the same `{placeholders}`. The language is chosen by
`?lang=`, then the `lang` cookie, then `Accept-Language` (RFC 9110, section 12.5.4), then English.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES: dict[str, str] = {"en": "English", "zh": "简体中文"}
DEFAULT_LANGUAGE = "en"
#: The BCP 47 tag for <html lang> and Content-Language.
HTML_LANG = {"en": "en", "zh": "zh-CN"}
I18N_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=len(LANGUAGES))
def catalog(lang: str) -> dict[str, str]:
    """The strings of one language (`<lang>.json` and every `<area>.<lang>.json`), read once."""
    merged: dict[str, str] = {}
    for path in [I18N_DIR / f"{lang}.json", *sorted(I18N_DIR.glob(f"*.{lang}.json"))]:
        with path.open(encoding="utf-8") as handle:
            strings = json.load(handle)
        if clash := merged.keys() & strings.keys():
            raise ValueError(f"{path.name} defines keys already defined: {sorted(clash)}")
        merged.update(strings)
    return merged


def translate(lang: str, key: str, **values: str) -> str:
    """The string for `key` in `lang`, falling back to English, then to the key itself."""
    text = catalog(lang).get(key) or catalog(DEFAULT_LANGUAGE).get(key) or key
    return text.format(**values) if values else text


def normalise(tag: str | None) -> str | None:
    """Map a language tag (`zh-CN`, `zh-Hans`, `en_US`, `EN`) to a supported language or None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def parse_accept_language(header: str) -> list[str]:
    """Language ranges in order of preference; `q=0` means "not acceptable" and is dropped."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language to answer in: explicit choice first, then the browser's preference."""
    for choice in (query, cookie):
        if (lang := normalise(choice)) is not None:
            return lang
    for tag in parse_accept_language(accept_language or ""):
        if (lang := normalise(tag)) is not None:
            return lang
    return DEFAULT_LANGUAGE
