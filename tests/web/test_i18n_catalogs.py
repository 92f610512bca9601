"""The translation catalogs: both languages carry every key the templates use."""

from __future__ import annotations

import re
import string

from app.config import ROOT
from app.web.i18n import LANGUAGES, catalog

TERMS = ("chain", "table", "hook", "DNAT", "MASQUERADE")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_exists_in_every_language_with_the_same_placeholders() -> None:
    english = catalog("en")
    for lang in LANGUAGES:
        strings = catalog(lang)
        assert strings.keys() == english.keys(), f"{lang} differs from en"
        for key, text in strings.items():
            assert text.strip(), f"{lang}:{key} is empty"
            assert _placeholders(text) == _placeholders(english[key]), f"{lang}:{key}"


def test_every_key_a_template_asks_for_exists() -> None:
    used = set()
    for template in (ROOT / "templates").rglob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""", template.read_text()))
    assert used, "the scan found no t() calls: the pattern is wrong"
    assert used <= catalog("en").keys(), used - catalog("en").keys()


def test_chinese_keeps_the_terms_of_the_trade_in_english() -> None:
    chinese = " ".join(catalog("zh").values())
    for term in TERMS:
        assert term in chinese, term
