"""Request ids, the access log and request metrics, in one pure-ASGI middleware.

Every HTTP request gets an id: the client's `X-Request-ID` when it is sane (1-128 characters
of letters, digits and `._:-`, starting with a letter or digit), else a new random one. The id
goes back in the `X-Request-ID` response header, into every log record written while the
request runs (`jsonlog.REQUEST_ID`), and into `request.state.request_id`.

When the request ends the middleware writes one line on the `kube_proxy_lab.access` logger
(method, route template, status, duration_ms) and updates the `/metrics` counters. Paths are
logged and labelled by route template (`/api/labs/{lab_id}`), so ids and whatever a client put
in a URL never reach the logs or the metric labels.

`install(app)` adds the middleware and `/metrics`. A plain ASGI class, not Starlette's
BaseHTTPMiddleware: it wraps `send` and adds no task or stream per request.
"""

from __future__ import annotations

import logging
import os
import re
import time

from fastapi import FastAPI
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.sim.lab import traffic
from app.web import metrics
from app.web.jsonlog import REQUEST_ID

access_log = logging.getLogger("kube_proxy_lab.access")

HEADER = b"x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# Any other method is labelled "other": a client cannot invent new metric series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of a request no route matched (a 404, or a redirect to add a slash).
UNMATCHED = "(unmatched)"


def incoming_id(scope: Scope) -> str | None:
    """The client's X-Request-ID if it is one we can log as is, else None."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            text = value.decode("latin-1")
            return text if _SANE_ID.fullmatch(text) else None
    return None


def route_template(scope: Scope) -> str:
    """The template of the route that served the request: the router sets `route` as it
    matches an API route; a mount (/static) or a plain route (/openapi.json) leaves only
    its `endpoint`, looked up among the app's own routes."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    endpoint = scope.get("endpoint")
    if endpoint is None:
        return UNMATCHED
    if endpoint not in _by_endpoint:
        routes = getattr(scope.get("app"), "routes", ())
        paths = [r.path for r in routes if isinstance(r, Mount | Route) and endpoint in _ends(r)]
        _by_endpoint[endpoint] = paths[0] if paths else UNMATCHED
    return _by_endpoint[endpoint]


def _ends(route: Mount | Route) -> tuple[object, ...]:
    return (route.app,) if isinstance(route, Mount) else (route.endpoint, route.app)


# An endpoint -> its route's path template, found once per endpoint.
_by_endpoint: dict[object, str] = {}


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_id(scope) or os.urandom(16).hex()
        # Not reset afterwards: the task ends with the request, and uvicorn's own report of an
        # unhandled error, written after this returns, still carries the id.
        REQUEST_ID.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what the client gets if the app fails before it starts a response
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - start)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = route_template(scope)
        metrics.observe_request(method, route, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            ms = round(seconds * 1000, 2)
            fields = {"method": method, "path": route, "status": status, "duration_ms": ms}
            access_log.info("%s %s %d %.2fms", method, route, status, ms, extra=fields)


def install(app: FastAPI) -> None:
    """Add the middleware (outermost of the app's own, so it times them too) and `/metrics`."""
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(metrics.router)
    # The simulation reports the packets it traces to whoever listens; count them once.
    if metrics.count_traces not in traffic.TRACE_OBSERVERS:
        traffic.TRACE_OBSERVERS.append(metrics.count_traces)
