"""The lab's own words, in English and Chinese (`messages.json`): help texts and the
explanations it adds to the tools' output. The tools' own messages (iptables, kubectl, curl,
bash) are never translated: a learner must recognise them on a real node."""

from __future__ import annotations

import json
from pathlib import Path

MESSAGES: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).with_name("messages.json")).read_text(encoding="utf-8")
)


def lookup(key: str, lang: str) -> str:
    """The text, or "" when the key or language is missing (the import-time checks use it)."""
    return MESSAGES.get(key, {}).get(lang, "")


def say(key: str, lang: str, **values: object) -> str:
    """The message in `lang` (English when the language is unknown), values filled in."""
    entry = MESSAGES[key]
    return entry.get(lang, entry["en"]).format(**values)
