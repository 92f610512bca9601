"""Jinja2 set-up: one environment, and the globals every page needs (translations, language,
presenter mode, the navigation that exists, links that switch language while staying put)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response
from starlette.routing import Match

from app.web.i18n import HTML_LANG, LANGUAGES, translate

HTMX_VERSION = "2.0.11"
#: Pages the navigation may show, in order; each appears only once a route serves it.
NAV = (
    ("/", "nav.home"),
    ("/lab", "nav.lab"),
    ("/trace", "nav.trace"),
    ("/compare", "nav.compare"),
    ("/lessons", "nav.lessons"),
    ("/quiz", "nav.quiz"),
    ("/classroom", "nav.classroom"),
)


def make_templates(directory: Path) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(directory))
    templates.env.globals.update(htmx_js=f"vendor/htmx-{HTMX_VERSION}.min.js", languages=LANGUAGES)
    return templates


def _served_paths(request: Request) -> set[str]:
    # Ask each route whether it answers a GET of the path: routers that FastAPI includes
    # lazily (0.165's _IncludedRouter) carry no `path` attribute of their own.
    served = set()
    for path, _key in NAV:
        scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "app": request.app}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.routes):
            served.add(path)
    return served


def url_with(request: Request, **params: str) -> str:
    """This page's URL with some query parameters replaced (the language switch keeps the page)."""
    query = {**request.query_params, **params}
    return f"{request.url.path}?{urlencode(query)}"


def static_url(request: Request, path: str) -> str:
    """A root-relative URL for a static asset (absolute URLs break behind a TLS proxy)."""
    return request.scope.get("root_path", "") + request.app.url_path_for("static", path=path)


def page_context(request: Request) -> dict[str, Any]:
    lang: str = request.state.lang
    served = _served_paths(request)
    return {
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "present": request.state.present,
        "t": partial(translate, lang),
        "nav": [(path, key) for path, key in NAV if path in served],
        "url_with": partial(url_with, request),
        "static": partial(static_url, request),
    }


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """Render `name` with the page globals; a partial and its full page share the context."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, name, {**page_context(request), **context}, status_code=status_code
    )
