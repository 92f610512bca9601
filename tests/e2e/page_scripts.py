"""Running test-only scripts (axe-core) inside a page of the app.

`page.add_script_tag` inserts an inline <script>, which the app's Content-Security-Policy
refuses, as it should (tests/e2e/test_csp_pages.py proves it holds). An evaluation through the
DevTools protocol is not subject to the page's policy, so the tests inject scripts that way.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page


def run_script(page: Page, path: Path) -> None:
    """Evaluate the script file `path` in `page`'s main world (its globals stay defined)."""
    page.evaluate(path.read_text(encoding="utf-8") + "\n;undefined")
