"""Browser-facing protections: CSRF tokens, security headers (CSP and friends), Secure cookies.

CSRF. A state-changing request (POST, PUT, PATCH, DELETE) is refused with 403 when
- it presents an ambient credential, i.e. any `kpl_*` cookie (the learner's `kpl_session`, a
  classroom's `kpl_teacher`/`kpl_student`), and lacks a valid token: the `X-CSRF-Token` header
  (htmx sends it for the whole page from `hx-headers` on <body>, scripts from the `csrf-token`
  meta tag) or the `csrf_token` form field. The token is an HMAC of the `kpl_session` id under
  a server secret (`KPL_SECRET_KEY`, else one kept in the database so that every worker and
  process on it agrees), so a token from another session never fits;
- or its `Origin`/`Sec-Fetch-Site` says it comes from another site (a second layer; browsers
  send these on every POST).
Exempt: requests with `Authorization: Bearer` (scripts using the JSON API carry no ambient
credential, and a browser cannot add that header cross-site without a CORS grant we never give).
A request with no credential at all (a first visit that starts a lab, a quiz or a classroom)
passes: it can only create a new identity that the attacker does not know, and the Origin check
already stops a cross-site form from doing even that.

Headers. Every response gets a Content-Security-Policy without inline or evaluated script and
without third-party origins, `frame-ancestors 'none'`, nosniff, `Referrer-Policy: same-origin`,
a minimal Permissions-Policy and `Cross-Origin-Opener-Policy: same-origin`.

Secure cookies. When the request arrived over HTTPS (directly, or through a trusted proxy's
`X-Forwarded-Proto`, which uvicorn applies for `KPL_TRUSTED_PROXIES`), every cookie the app sets
gets `Secure`, and the response carries Strict-Transport-Security.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
from fastapi import FastAPI, Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.store import app_secret
from app.web.i18n import translate
from app.web.labs import identity
from app.web.preferences import resolve
from app.web.templating import render

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
#: Marks a refusal so that static/js/csrf.js can show htmx's 403 instead of dropping it.
REFUSED_HEADER = "X-CSRF-Refused"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Cookies whose name starts so are credentials (a new one is covered without a change here).
CREDENTIAL_COOKIE_PREFIX = "kpl_"
#: A form body read to find `csrf_token` is held in memory: refuse bigger ones without a header.
MAX_FORM_BYTES = 4 * 1024 * 1024
SECRET_NAME = "csrf"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # No inline <style> or style="" either: htmx's indicator rules live in app.css and
        # plotly's in plotly-4.1.1.css (templates/base.html); element.style stays allowed.
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")

_secret_lock = threading.Lock()
log = logging.getLogger(__name__)


def server_secret(app: FastAPI) -> bytes:
    """The key of the CSRF HMAC: `KPL_SECRET_KEY`, else the one stored in the database."""
    cached: bytes | None = getattr(app.state, "csrf_secret", None)
    if cached is not None:
        return cached
    with _secret_lock:
        configured = app.state.settings.secret_key
        value = configured or app_secret.get_or_create(app.state.engine, SECRET_NAME)
        key = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
        app.state.csrf_secret = key
        return key


def token_for(secret: bytes, session_id: str) -> str:
    """The CSRF token of one session: only the server can compute it, and only for that id."""
    message = b"csrf-token:" + identity.digest(session_id).encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_token(request: Request) -> str:
    """This request's token, for its page's meta tag and forms.

    A visitor with no `kpl_*` cookie gets "" (a request without credentials needs no token,
    and a page view should not start a session nor need the database). One holding a classroom
    cookie but no session gets a session now, its cookie going out with the response, so the
    forms of the page just rendered are accepted when submitted."""
    create = _has_credential_cookie(request.headers)
    session_id = identity.current_session(request, create=create)
    if session_id is None:
        return ""
    try:
        return token_for(server_secret(request.app), session_id)
    except SQLAlchemyError:
        # The page still renders; a form sent from it will meet the same database trouble.
        log.warning("CSRF secret unavailable: the database cannot be read")
        return ""


@pass_context
def _template_token(context: Any) -> str:
    return csrf_token(context["request"])


@pass_context
def _template_field(context: Any) -> Markup:
    token = csrf_token(context["request"])
    if not token:
        return Markup("")
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">')


def _cross_site(headers: Headers) -> bool:
    """True when the browser says the request was made by a page of another site."""
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    if origin == "null":  # sandboxed frames, file: pages, cross-origin redirects
        return True
    # Host names only: a proxy may drop the port from Host (nginx's $host), and cookies do not
    # depend on the port anyway (RFC 6265, section 8.5).
    return urlsplit(origin).hostname != urlsplit("//" + headers.get("host", "")).hostname


def _has_credential_cookie(headers: Headers) -> bool:
    for part in headers.get("cookie", "").split(";"):
        name = part.split("=", 1)[0].strip()
        if name.startswith(CREDENTIAL_COOKIE_PREFIX):
            return True
    return False


def _is_bearer(headers: Headers) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(value.strip())


def _session_id(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == identity.SESSION_COOKIE and value and len(value) <= 128:
            return value
    return None


async def _buffer_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and whether it stayed within MAX_FORM_BYTES (reading stops if not)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out `body` once, then whatever the client sends (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _form_token(scope: Scope, headers: Headers, body: bytes, receive: Receive) -> str:
    content_type = headers.get("content-type", "").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD, [""])
        return values[-1]
    if content_type.startswith("multipart/form-data"):
        try:
            form = await Request(scope, _replay(body, receive)).form()
        except Exception:  # a malformed body: no token in it (the app would answer 400)
            return ""
        try:
            value = form.get(CSRF_FIELD)
            return value if isinstance(value, str) else ""
        finally:
            await form.close()
    return ""


def _language(scope: Scope) -> str:
    """The learner's language, as PreferencesMiddleware (which runs inside this one) decides
    it; stored in the request state so that a refusal page renders like any other page."""
    lang, present, _ = resolve(scope)
    state = scope.setdefault("state", {})
    state.setdefault("lang", lang)
    state.setdefault("present", present)
    return str(state["lang"])


def refusal(scope: Scope, headers: Headers, key: str) -> Response:
    """403 in the learner's language: JSON for /api and scripts, a fragment for htmx (shown by
    static/js/csrf.js), a page for a browser that submitted a plain form."""
    lang = _language(scope)
    message = translate(lang, key)
    extra = {REFUSED_HEADER: "1"}
    path: str = scope.get("path", "")
    if path.startswith("/api"):
        return JSONResponse({"detail": message}, status_code=403, headers=extra)
    if "hx-request" in headers:
        fragment = f'<p class="notice error" role="alert" data-csrf-refused>{escape(message)}</p>'
        return HTMLResponse(fragment, status_code=403, headers=extra)
    if "text/html" not in headers.get("accept", ""):
        return JSONResponse({"detail": message}, status_code=403, headers=extra)
    response = render(Request(scope), "pages/forbidden.html", status_code=403, message=message)
    response.headers.update(extra)
    return response


class SecurityMiddleware:
    """CSRF check on the way in; security headers and Secure cookies on the way out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] in UNSAFE_METHODS:
            try:
                refused, receive = await self._check(scope, headers, receive)
            except SQLAlchemyError:
                refused = self._busy(scope, headers)
            if refused is not None:
                await refused(scope, receive, self._decorate(scope, send))
                return
        await self.app(scope, receive, self._decorate(scope, send))

    async def _check(
        self, scope: Scope, headers: Headers, receive: Receive
    ) -> tuple[Response | None, Receive]:
        """A refusal, or None; and the `receive` the app must use (the body may be buffered)."""
        if _is_bearer(headers):
            return None, receive
        if _cross_site(headers):
            return refusal(scope, headers, "security.csrf.cross_site"), receive
        if not _has_credential_cookie(headers):
            return None, receive
        session_id = _session_id(headers)
        presented = headers.get(CSRF_HEADER)
        if presented is None:
            body, complete = await _buffer_body(receive)
            if not complete:
                return refusal(scope, headers, "security.csrf.missing"), receive
            presented = await _form_token(scope, headers, body, receive)
            receive = _replay(body, receive)
        if not presented:
            return refusal(scope, headers, "security.csrf.missing"), receive
        if session_id is None:
            return refusal(scope, headers, "security.csrf.invalid"), receive
        app: FastAPI = scope["app"]
        secret = await anyio.to_thread.run_sync(server_secret, app)
        if not hmac.compare_digest(presented.encode(), token_for(secret, session_id).encode()):
            return refusal(scope, headers, "security.csrf.invalid"), receive
        return None, receive

    @staticmethod
    def _busy(scope: Scope, headers: Headers) -> Response:
        # The secret could not be read: the database is down or locked, as errors.py answers.
        detail = translate(_language(scope), "error.db_busy")
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "2"})

    @staticmethod
    def _decorate(scope: Scope, send: Send) -> Send:
        https = scope.get("scheme") == "https"

        async def send_decorated(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name not in out:
                        out[name] = value
                minted = (scope.get("state") or {}).get(identity.NEW_SESSION_STATE)
                if not minted and _starts_identity(scope, out):
                    # A classroom seat (kpl_teacher, kpl_student) begun without a session: start
                    # one beside it, so the CSRF token of the pages that follow binds to it.
                    minted = identity.new_secret()
                    scope.setdefault("state", {})[identity.NEW_SESSION_STATE] = minted
                if minted:
                    if not _sets_cookie(out, identity.SESSION_COOKIE):
                        out.append("set-cookie", identity.session_cookie_header(minted))
                    # A page that started without a session (its token was "") learns the new
                    # session's token from here (static/js/csrf.js updates the meta tag).
                    with contextlib.suppress(SQLAlchemyError):
                        secret = await anyio.to_thread.run_sync(server_secret, scope["app"])
                        out[CSRF_HEADER] = token_for(secret, minted)
                if https:
                    out[HSTS[0]] = HSTS[1]
                    _secure_cookies(message)
            await send(message)

        return send_decorated


def _starts_identity(scope: Scope, out: MutableHeaders) -> bool:
    """The response sets a credential cookie for a request that holds no session."""
    if _session_id(Headers(scope=scope)) is not None:
        return False
    names = [value.partition("=")[0] for value in out.getlist("set-cookie")]
    return identity.SESSION_COOKIE not in names and any(
        name.startswith(CREDENTIAL_COOKIE_PREFIX) for name in names
    )


def _sets_cookie(headers: MutableHeaders, name: str) -> bool:
    return any(value.startswith(f"{name}=") for value in headers.getlist("set-cookie"))


def _secure_cookies(message: Message) -> None:
    """Add `Secure` to every Set-Cookie of a response that goes out over HTTPS."""
    raw: list[tuple[bytes, bytes]] = list(message.get("headers", []))
    for index, (name, value) in enumerate(raw):
        if name.lower() == b"set-cookie" and b"secure" not in value.lower().split(b"; "):
            raw[index] = (name, value + b"; Secure")
    message["headers"] = raw


def install(app: FastAPI, templates: Jinja2Templates) -> None:
    """Register the middleware and the template helpers `csrf_token()` and `csrf_field()`."""
    templates.env.globals.update(
        csrf_token=_template_token, csrf_field=_template_field, csrf_header=CSRF_HEADER
    )
    app.add_middleware(SecurityMiddleware)
