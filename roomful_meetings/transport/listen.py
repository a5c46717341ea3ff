"""Open a listening port, or say in one line why not (taken, not allowed, unknown host)."""

from __future__ import annotations

import socket
from typing import Final

import trio

from roomful_meetings.config import ConfigError

BACKLOG: Final = 4096


async def open_listeners(
    host: str, port: int, flag: str, *, shared: bool = False
) -> list[trio.SocketListener]:
    """trio.open_tcp_listeners; an OSError (port in use, ...) becomes a ConfigError naming
    the flag to change, so the command line prints one line and exits 2. `shared`: with
    SO_REUSEPORT, so that the workers of `serve --workers N` all listen on the port and the
    kernel spreads connections over them."""
    try:
        if shared:
            return await _reuse_port_listeners(host, port)
        return await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({flag}): {exc.strerror or exc}") from None


async def _reuse_port_listeners(host: str, port: int) -> list[trio.SocketListener]:
    listeners: list[trio.SocketListener] = []
    for family, kind, proto, _, address in await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        sock = trio.socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            await sock.bind(address)
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            for listener in listeners:
                listener.socket.close()
            raise
        listeners.append(trio.SocketListener(sock))
    return listeners
