"""Error answers: a page in the learner's language for browsers, JSON for scripts and `/api`."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.store.db import UnstorableText
from app.web.i18n import negotiate, translate
from app.web.templating import render

#: Seconds a client should wait before trying again when the database is momentarily busy.
BUSY_RETRY_AFTER = 2
log = logging.getLogger(__name__)


def wants_html(request: Request) -> bool:
    """A browser navigating to a page (not a script, not the JSON API, not an htmx swap)."""
    accept = request.headers.get("accept", "")
    return (
        "text/html" in accept
        and not request.url.path.startswith("/api")
        and "hx-request" not in request.headers
    )


async def page_or_json(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404 and wants_html(request):
        return render(request, "pages/not_found.html", status_code=404)
    return await http_exception_handler(request, error)


async def invalid_input(request: Request, error: Exception) -> Response:
    """FastAPI's 422, escaped to ASCII: the echoed input may hold a lone surrogate (JSON allows
    `"\\ud800"`), which UTF-8 cannot encode and would otherwise turn into a 500."""
    assert isinstance(error, RequestValidationError)
    body = json.dumps({"detail": jsonable_encoder(error.errors())}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


async def database_busy(request: Request, error: Exception) -> Response:
    """503 + Retry-After, not a 500, when the database cannot be reached or stays locked past
    its busy timeout (SQLite under a burst of writers), or every pooled connection stayed busy
    past the pool's timeout (a burst larger than the pool): nothing was saved, so a retry is
    safe."""
    assert isinstance(error, OperationalError | PoolTimeout)
    # The driver's own words (error.orig), never the SQL statement and its parameters.
    log.warning("database busy, answered 503: %s", getattr(error, "orig", error))
    body = json.dumps({"detail": translate(_lang(request), "error.db_busy")}, ensure_ascii=False)
    headers = {"Retry-After": str(BUSY_RETRY_AFTER)}
    return Response(body, status_code=503, media_type="application/json", headers=headers)


async def unstorable_text(request: Request, error: Exception) -> Response:
    """422 for text with a NUL character, which PostgreSQL refuses (SQLite would take it)."""
    assert isinstance(error, UnstorableText)
    body = json.dumps({"detail": translate(_lang(request), "error.nul_text")}, ensure_ascii=False)
    return Response(body, status_code=422, media_type="application/json")


async def write_clash(request: Request, error: Exception) -> Response:
    """409, not a 500, when two requests insert the same unique row at the same instant (a double
    click, two tabs): the database kept the first, this one saved nothing and may be retried."""
    assert isinstance(error, IntegrityError)
    log.warning("unique row written twice at once, answered 409: %s", getattr(error, "orig", ""))
    detail = translate(_lang(request), "error.write_clash")
    body = json.dumps({"detail": detail}, ensure_ascii=False)
    return Response(body, status_code=409, media_type="application/json")


async def internal_error(request: Request, error: Exception) -> Response:
    """A defect: the learner gets an apology and the request id to quote; the log gets the
    same id (uvicorn's own report after this one carries the traceback under it too)."""
    request_id = getattr(request.state, "request_id", None)
    log.error("unhandled %s answered 500", type(error).__name__, extra={"request_id": request_id})
    detail = translate(_lang(request), "error.internal", request_id=str(request_id))
    body = json.dumps({"detail": detail, "request_id": request_id}, ensure_ascii=False)
    headers = {"X-Request-ID": request_id} if request_id else None
    return Response(body, status_code=500, media_type="application/json", headers=headers)


def _lang(request: Request) -> str:
    return negotiate(
        request.query_params.get("lang"),
        request.cookies.get("lang"),
        request.headers.get("accept-language"),
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(HTTPException, page_or_json)
    app.add_exception_handler(RequestValidationError, invalid_input)
    app.add_exception_handler(OperationalError, database_busy)
    app.add_exception_handler(PoolTimeout, database_busy)
    app.add_exception_handler(UnstorableText, unstorable_text)
    app.add_exception_handler(IntegrityError, write_clash)
