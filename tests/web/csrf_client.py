"""A TestClient that behaves like the app's own pages: a state-changing request from a client
holding a `kpl_*` cookie carries the CSRF token, read from the `csrf-token` meta tag of a page
the app serves (as static/js/csrf.js and htmx's hx-headers do in a browser).

Requests that already name a token or a bearer token are sent as they are; `csrf = False`
turns the help off for tests of the refusal itself.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def page_token(html: str) -> str:
    """The token in a page's `<meta name="csrf-token">` (AssertionError when absent)."""
    found = META.search(html)
    assert found, "the page carries no csrf-token meta tag"
    return found.group(1)


class CsrfClient(TestClient):
    csrf = True

    def _session(self) -> str | None:
        return next((c.value for c in self.cookies.jar if c.name == "kpl_session"), None)

    def _has_credential(self) -> bool:
        return any(cookie.name.startswith("kpl_") for cookie in self.cookies.jar)

    def csrf_token(self) -> str:
        """The token of this client's session, read from a page once per session (a first page
        view gives a client holding only a classroom cookie its session)."""
        known = getattr(self, "_known", None)
        if known is None or known[0] != self._session():
            page = super().request("GET", "/", headers={"accept": "text/html"})
            self._known = (self._session(), page_token(page.text))
        return self._known[1]

    def request(self, method: str, url: httpx._types.URLTypes, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        if self.csrf and method.upper() in UNSAFE and self._has_credential():
            headers = httpx.Headers(kwargs.get("headers"))
            named = {*headers.keys(), *self.headers.keys()}
            if "x-csrf-token" not in named and "authorization" not in named:
                headers["X-CSRF-Token"] = self.csrf_token()
                kwargs["headers"] = headers
        return super().request(method, url, **kwargs)
