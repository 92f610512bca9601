"""Who is asking: the session cookie a browser carries, or the bearer token a script was given.

Both are random secrets; the database keeps only their SHA-256, so a leaked database does not
open anyone's lab.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

SESSION_COOKIE = "kpl_session"
ONE_YEAR = 365 * 24 * 3600
#: Where a session id minted during a request waits for its cookie (`request.state`).
NEW_SESSION_STATE = "kpl_new_session"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    """A URL-safe random string with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def new_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Caller:
    """The digests of what the request presents (None when absent)."""

    session: str | None
    token: str | None
    new_session: str | None = None  # a session id to set as a cookie on the way out


def current_session(request: Request, *, create: bool = False) -> str | None:
    """The session id of this request: its cookie, else one minted earlier in this request
    (by `caller` or by a page's CSRF token), else, with `create`, a new one. A minted id is kept
    in `request.state` so that everything in the request agrees on it; app/web/security.py sets
    its cookie on the response if the route did not."""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw and len(raw) <= 128:
        return raw
    minted: str | None = getattr(request.state, NEW_SESSION_STATE, None)
    if minted is None and create:
        minted = new_secret()
        setattr(request.state, NEW_SESSION_STATE, minted)
    return minted


def caller(request: Request, *, create_session: bool = False) -> Caller:
    """The request's credentials; `create_session` mints a session when it has none."""
    raw = request.cookies.get(SESSION_COOKIE)
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = digest(value.strip()) if scheme.lower() == "bearer" and value.strip() else None
    if raw and len(raw) <= 128:
        return Caller(digest(raw), token)
    minted = current_session(request, create=create_session)
    if minted is None:
        return Caller(None, token)
    return Caller(digest(minted), token, minted)


def session_cookie_header(value: str) -> str:
    """The Set-Cookie value for a session id (security.py adds `Secure` over HTTPS)."""
    return f"{SESSION_COOKIE}={value}; HttpOnly; Max-Age={ONE_YEAR}; Path=/; SameSite=lax"


def remember(response: Response, who: Caller) -> None:
    """Set the session cookie minted for `who`, if any (HttpOnly: scripts never read it)."""
    if who.new_session:
        response.set_cookie(
            SESSION_COOKIE, who.new_session, max_age=ONE_YEAR, httponly=True, samesite="lax"
        )
