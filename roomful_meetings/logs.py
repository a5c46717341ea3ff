"""Structured logs: key=value lines that name the connection and request they are about.

A connection gets an id when its handshake starts, and each of its requests gets
`<connection id>-<n>`; both are context variables, so every line logged while a request is
handled (by any module, down to the Redis layer) carries them. A client can be pointed at
its request: a 500 error's id is the request id. Tokens are never logged: handshake lines
name the user, never the credentials.
"""

from __future__ import annotations

import logging
import secrets
import sys
from contextvars import ContextVar
from typing import Final, TextIO

CONNECTION_ID: Final[ContextVar[str]] = ContextVar("connection_id", default="-")
REQUEST_ID: Final[ContextVar[str]] = ContextVar("request_id", default="-")

FORMAT: Final = "ts=%(asctime)s level=%(levelname)s logger=%(name)s conn=%(conn)s req=%(req)s msg=%(message)s"


def new_connection_id() -> str:
    return secrets.token_hex(4)


class ContextFilter(logging.Filter):
    """Adds `conn` and `req` to every record a handler formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.conn = CONNECTION_ID.get()
        record.req = REQUEST_ID.get()
        return True


def configure(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records to `stream` (stderr) as key=value lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
