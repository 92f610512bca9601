"""Probes for orchestrators: `/healthz` (the process answers) and `/readyz` (it can serve labs)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.store.db import migrate, ping
from app.web.deps import EngineDep

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: answers 200 while the process runs, whatever the database does."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The database cannot be used"}})
def readyz(request: Request, engine: EngineDep) -> JSONResponse:
    """Readiness: 200 once the database answers with the migrated schema, 503 otherwise.

    A database that was down at start-up is migrated here as soon as it comes back.
    """
    try:
        if not request.app.state.migrated:
            migrate(engine)
            request.app.state.migrated = True
        ping(engine)
    except (SQLAlchemyError, OSError) as error:
        log.warning("database not ready: %s", error)
        detail = f"database unavailable: {type(error).__name__}"
        return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
    return JSONResponse({"status": "ok"})
