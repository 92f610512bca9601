"""The FastAPI application factory: `create_app()` wires settings, database, templates, static
assets, preferences and routers. `uvicorn app.web.app:create_app --factory` serves it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings, get_settings
from app.store.db import make_engine, migrate
from app.web import errors, observability, security
from app.web.preferences import PreferencesMiddleware
from app.web.routers import (
    classroom,
    compare,
    docs,
    health,
    lab_explain,
    lab_pages,
    lab_rules,
    lab_shared,
    labs,
    lessons,
    pages,
    quiz,
    trace,
)
from app.web.templating import make_templates

#: Routers the app mounts, in order; a new feature adds its router here.
ROUTERS: list[APIRouter] = [
    health.router,
    pages.router,
    docs.router,
    labs.router,
    lab_pages.router,
    lab_rules.router,
    lab_explain.router,
    lab_shared.router,
    trace.router,
    classroom.router,
    compare.router,
    lessons.router,
    quiz.router,
]
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Migrate at start-up; a database that is down leaves the app live but not ready."""
    try:
        migrate(app.state.engine)
        app.state.migrated = True
    except (SQLAlchemyError, OSError) as error:
        log.error("database migration failed at start-up, /readyz answers 503: %s", error)
    yield
    app.state.engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app; tests pass their own `Settings` (for instance a temporary DATABASE_URL)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="KubeProxy Lab", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.migrated = False
    app.state.templates = make_templates(settings.templates_dir)
    app.add_middleware(PreferencesMiddleware)
    security.install(app, app.state.templates)  # outside preferences: it secures their cookies
    errors.install(app)
    observability.install(app)  # keep after every add_middleware: outermost, it times them all
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
