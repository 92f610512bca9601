"""Error answers: a page in the learner's language for browsers, JSON for scripts and `/api`."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.web.templating import render


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


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, page_or_json)
    app.add_exception_handler(RequestValidationError, invalid_input)
