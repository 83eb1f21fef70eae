"""Structured logs: one JSON object per line, with the request id of the current request.

Messages and ``extra=`` values carry untrusted text (label values, group keys, receivers), so
neither format lets it start a line of its own: JSON escapes control characters by itself;
the console format writes them as ``\\r``, ``\\n``, ``\\x1b``... and indents a traceback's
lines under its record.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from app.driver_logs import quiet_driver_warnings
from app.text import LINE_BREAKING

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Render a record and its ``extra=`` fields as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
TRACEBACK_INDENT = "    "


def _escape_one(found: re.Match[str]) -> str:
    ch = found.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def escape_controls(text: str) -> str:
    """``text`` with every control character or line separator written as an escape."""
    return LINE_BREAKING.sub(_escape_one, text)


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for a terminal, extras appended as key=value, one line a record."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={escape_controls(str(v))}"
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        )
        message = escape_controls(record.getMessage())
        base = f"{record.levelname:<7} [{request_id_var.get()}] {record.name}: {message}"
        text = f"{base} {extras}".rstrip()
        if record.exc_info:
            lines = self.formatException(record.exc_info).split("\n")
            text += "".join(f"\n{TRACEBACK_INDENT}{escape_controls(line)}" for line in lines)
        return text


def configure_logging(*, fmt: str, level: str) -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_runbook_router", False):
            root.removeHandler(old)
    handler._runbook_router = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quiet_driver_warnings()
