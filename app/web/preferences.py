"""Per-request preferences: language and presenter mode, chosen by query, cookie or header.

A plain ASGI middleware (not `BaseHTTPMiddleware`, which buffers and costs a task per request)
puts `lang` and `present` into `request.state` and, when the query string chose them,
remembers the choice in a cookie on the way out.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web.i18n import HTML_LANG, negotiate, normalise

ONE_YEAR = 365 * 24 * 3600
_FLAGS = {"1": True, "on": True, "true": True, "0": False, "off": False, "false": False}


def _cookie(name: str, value: str) -> tuple[bytes, bytes]:
    text = f"{name}={value}; Path=/; Max-Age={ONE_YEAR}; SameSite=Lax"
    return b"set-cookie", text.encode("latin-1")


def _cookies(headers: Headers) -> SimpleCookie:
    cookies = SimpleCookie()
    try:
        cookies.load(headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header must not break the page
        return SimpleCookie()
    return cookies


def resolve(scope: Scope) -> tuple[str, bool, list[tuple[bytes, bytes]]]:
    """The request's language and presenter flag, and the headers the response should add."""
    headers = Headers(scope=scope)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    cookies = _cookies(headers)
    query_lang = normalise(query.get("lang", [""])[-1])
    cookie_lang = cookies["lang"].value if "lang" in cookies else None
    lang = negotiate(query_lang, cookie_lang, headers.get("accept-language"))
    query_present = _FLAGS.get(query.get("present", [""])[-1].lower())
    cookie_present = _FLAGS.get(cookies["present"].value) if "present" in cookies else None
    present = next((p for p in (query_present, cookie_present) if p is not None), False)
    extra = [(b"content-language", HTML_LANG[lang].encode()), (b"vary", b"Accept-Language, Cookie")]
    if query_lang is not None:
        extra.append(_cookie("lang", query_lang))
    if query_present is not None:
        extra.append(_cookie("present", "1" if query_present else "0"))
    return lang, present, extra


class PreferencesMiddleware:
    """Resolve `lang` and `present` for every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lang, present, extra = resolve(scope)
        state = scope.setdefault("state", {})
        state["lang"], state["present"] = lang, present

        async def send_with_preferences(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_preferences)
