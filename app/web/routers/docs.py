"""`/docs`: the interactive API reference, served from vendored Swagger UI (FastAPI's default
page loads it from a CDN, and a classroom without internet must still have it).

The page has no inline script, so the Content-Security-Policy (app/web/security.py) can forbid
them: static/js/swagger-init.js reads the settings from data attributes, and adds the page's
CSRF token to "Try it out" requests (they carry the learner's session cookie)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape

from app.web.security import csrf_token
from app.web.templating import static_url

SWAGGER_UI = "vendor/swagger-ui-5.35.0"
router = APIRouter(include_in_schema=False)

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{token}">
<link rel="stylesheet" href="{css}">
<link rel="icon" href="{icon}" type="image/svg+xml">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = PAGE.format(
        token=escape(csrf_token(request)),
        css=static_url(request, f"{SWAGGER_UI}/swagger-ui.css"),
        icon=static_url(request, "img/logo.svg"),
        title=escape(f"{request.app.title} — API"),
        openapi=escape(root + (request.app.openapi_url or "")),
        bundle=static_url(request, f"{SWAGGER_UI}/swagger-ui-bundle.js"),
        init=static_url(request, "js/swagger-init.js"),
    )
    return HTMLResponse(page)
