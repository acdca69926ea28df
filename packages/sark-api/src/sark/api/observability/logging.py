"""Structured logging: one JSON object a line, carrying the request id of the request."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import logging.config
from typing import Any, Final

from sark.core.settings import LogSettings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "sark_request_id", default=None
)

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)
#: Chatty libraries kept at warning whatever the level.
_QUIET: Final = ("alembic", "httpx", "httpcore", "aiosqlite", "asyncio")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object with time, level, logger, message and extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record``; ``extra`` fields become top-level keys."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` and append the request id."""
        line = super().format(record)
        request_id = request_id_var.get()
        return f"{line} [{request_id}]" if request_id else line


def logging_dictconfig(log: LogSettings) -> dict[str, Any]:
    """The ``logging.config`` dictionary for ``log`` (also handed to granian's workers)."""
    formatter = JsonFormatter if log.format == "json" else TextFormatter
    level = log.level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"sark": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "sark",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "_granian": {"handlers": ["stderr"], "level": level, "propagate": False},
            "granian.access": {"handlers": ["stderr"], "level": level, "propagate": False},
            **{name: {"level": "WARNING"} for name in _QUIET},
        },
    }


def configure_logging(log: LogSettings) -> None:
    """Send SARK's (and the server's) logs to stderr in the configured format."""
    logging.config.dictConfig(logging_dictconfig(log))
