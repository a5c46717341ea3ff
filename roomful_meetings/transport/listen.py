"""Open a listening port, or say in one line why not (taken, not allowed, unknown host)."""

from __future__ import annotations

import trio

from roomful_meetings.config import ConfigError


async def open_listeners(host: str, port: int, flag: str) -> list[trio.SocketListener]:
    """trio.open_tcp_listeners; an OSError (port in use, ...) becomes a ConfigError naming
    the flag to change, so the command line prints one line and exits 2."""
    try:
        return await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({flag}): {exc.strerror or exc}") from None
