"""Log formatting for the server: one JSON object per line (`JsonFormatter`) or plain text, and
the `logging.config` dictionary `kube-proxy-lab serve` hands to uvicorn.

Every record carries the id of the request it was logged under (a context variable the
observability middleware sets), so an error line can be joined with its access line.
"""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]

#: The id of the request being served in this task (None outside a request). Each request
#: runs in its own asyncio task, and the threadpool copies the context, so ids never mix.
REQUEST_ID: ContextVar[str | None] = ContextVar("kpl_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# uvicorn adds a colourised copy of its message; the plain one is enough.
_SKIPPED = frozenset({"color_message"})


def _request_id(record: logging.LogRecord) -> str | None:
    given = getattr(record, "request_id", None)
    return given if isinstance(given, str) else REQUEST_ID.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, request_id, worker_pid, the record's
    `extra` fields, and `exc` (the traceback) when there is one.

    Output is pure ASCII (`ensure_ascii`): a hostile string in a message becomes escapes,
    never a raw newline, control character or a surrogate that stderr cannot encode."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": _request_id(record),
            "worker_pid": record.process or os.getpid(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _SKIPPED and key not in data:
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=True, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the request id appended when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = _request_id(record)
        return f"{line} request_id={request_id}" if request_id else line


def log_config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary: every logger (the app's and uvicorn's error
    log) goes to stderr through one formatter; uvicorn's access log is off, because the
    observability middleware writes a richer one (`kube_proxy_lab.access`)."""
    formatter = "JsonFormatter" if log_format == "json" else "TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"app": {"()": f"app.web.jsonlog.{formatter}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "app",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            # Empty handler lists drop whatever uvicorn installed; records reach the root's.
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # One line per plug-in in every worker at start-up says nothing to an operator.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
