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


def caller(request: Request, *, create_session: bool = False) -> Caller:
    """The request's credentials; `create_session` mints a session when it has none."""
    raw = request.cookies.get(SESSION_COOKIE)
    session = digest(raw) if raw and len(raw) <= 128 else None
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = digest(value.strip()) if scheme.lower() == "bearer" and value.strip() else None
    if session is None and create_session:
        fresh = new_secret()
        return Caller(digest(fresh), token, fresh)
    return Caller(session, token)


def remember(response: Response, who: Caller) -> None:
    """Set the session cookie minted for `who`, if any (HttpOnly: scripts never read it)."""
    if who.new_session:
        response.set_cookie(
            SESSION_COOKIE, who.new_session, max_age=ONE_YEAR, httponly=True, samesite="lax"
        )
