"""`/docs`: the interactive API reference, served from vendored Swagger UI (FastAPI's default
page loads it from a CDN, and a classroom without internet must still have it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from app.web.templating import static_url

SWAGGER_UI = "vendor/swagger-ui-5.35.0"
router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.scope.get("root_path", "") + (request.app.openapi_url or ""),
        title=f"{request.app.title} — API",
        swagger_js_url=static_url(request, f"{SWAGGER_UI}/swagger-ui-bundle.js"),
        swagger_css_url=static_url(request, f"{SWAGGER_UI}/swagger-ui.css"),
        swagger_favicon_url=static_url(request, "img/logo.svg"),
    )
