"""Structured logs: logfmt (key=value) or JSON lines that name the connection and request
they are about.

A connection gets an id when its handshake starts, and each of its requests gets
`<connection id>-<n>`; both are context variables, so every line logged while a request is
handled (by any module, down to the Redis layer) carries them. A client can be pointed at
its request: a 500 error's id is the request id. Tokens are never logged: handshake lines
name the user and the peer address, never the credentials or the query string.

Every line has the same fields in the same order: ts (UTC, RFC 3339 with milliseconds),
level, logger, conn, req, msg, and exc when a traceback goes with it. In logfmt a value is
written bare when it is a plain word and quoted otherwise, with backslash escapes for
quotes, backslashes and line breaks, so one record is always one line.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar
from typing import Final, TextIO

CONNECTION_ID: Final[ContextVar[str]] = ContextVar("connection_id", default="-")
REQUEST_ID: Final[ContextVar[str]] = ContextVar("request_id", default="-")

# A value logfmt readers take bare: no space, quote, equals sign, backslash or control.
_BARE: Final = re.compile(r'[^\s"=\\\x00-\x1f\x7f]+')
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def new_connection_id() -> str:
    return secrets.token_hex(4)


def logfmt_value(value: str) -> str:
    if _BARE.fullmatch(value):
        return value
    escaped = "".join(_ESCAPES.get(c, f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in value)
    return f'"{escaped}"'


def utc_timestamp(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


def record_fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, str]:
    fields = {
        "ts": utc_timestamp(record.created),
        "level": record.levelname,
        "logger": record.name,
        "conn": CONNECTION_ID.get(),
        "req": REQUEST_ID.get(),
        "msg": record.getMessage(),
    }
    if record.exc_info:
        fields["exc"] = formatter.formatException(record.exc_info)
    return fields


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={logfmt_value(v)}" for k, v in record_fields(record, self).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record, self), ensure_ascii=False)


FORMATTERS: Final = {"logfmt": LogfmtFormatter, "json": JsonFormatter}


def configure(level: str, stream: TextIO | None = None, *, log_format: str = "logfmt") -> logging.Handler:
    """Send every logger's records to `stream` (stderr) in `log_format` (logfmt or json)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(FORMATTERS[log_format]())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    # trio-websocket's debug lines (bytes received, per frame) belong to no request and
    # would drown the one line per request that --log-level debug promises.
    logging.getLogger("trio-websocket").setLevel(max(root.level, logging.INFO))
    return handler
