"""Structured JSON logging with correlation fields carried in context variables."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson

_CONTEXT: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("tars_log_context")
_CORRELATION_FIELDS = ("topic", "request_id", "utt_id", "satellite")
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Attach correlation fields (topic, request_id, utt_id ...) to every log line inside."""
    merged = dict(_CONTEXT.get({}))
    merged.update({key: value for key, value in fields.items() if value is not None})
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, service, logger, msg, correlation fields, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as a JSON line."""
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_CONTEXT.get({}))
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the correlation fields appended."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as one readable line."""
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        context = _CONTEXT.get({})
        fields = " ".join(f"{key}={context[key]}" for key in _CORRELATION_FIELDS if key in context)
        line = f"{clock} {record.levelname:<7} {self._service}: {record.getMessage()}"
        if fields:
            line = f"{line} [{fields}]"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Send every log record to stderr in the chosen format (json or text)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter(service) if fmt == "json" else TextFormatter(service)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # paho logs every packet at DEBUG through aiomqtt's logger, named "mqtt" (each bus logs
    # under a child of it); keep it quiet unless asked for explicitly.
    logging.getLogger("mqtt").setLevel(max(root.level, logging.INFO))
