"""Error answers: a page in the learner's language for browsers, JSON for scripts and `/api`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
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


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, page_or_json)
