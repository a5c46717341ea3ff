"""Open a listening port, or say in one line why not (taken, not allowed, unknown host);
turn away at once a connection its port has no room for; fit the process's descriptor
limit to what the ports may hold."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import socket
from typing import Final

import trio

from roomful_meetings.config import ConfigError

BACKLOG: Final = 4096
# A short answer fits a fresh socket's send buffer, so the write does not wait on the peer:
# this bounds it all the same.
TURN_AWAY_TIMEOUT: Final = 1.0
# Descriptors besides the ports' connections: Redis links, pub/sub, listeners, files, logs.
SPARE_DESCRIPTORS: Final = 64

log = logging.getLogger(__name__)


def refusal(status: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer, sent before the request is read."""
    body = f"{message}\n".encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def turn_away(stream: trio.SocketStream, answer: bytes) -> None:
    """Send `answer` without waiting for the request, and close: a connection over its
    port's cap holds its descriptor no longer than that write."""
    try:
        with trio.move_on_after(TURN_AWAY_TIMEOUT):
            await stream.send_all(answer)
        # What the peer has sent already is dropped unread, so that the close is a FIN: a
        # close with unread bytes is a reset, after which the peer may not read the answer.
        # (Bytes that arrive later still meet a reset; waiting for them would hold the
        # descriptor, which is what a connection over the cap must not do.)
        _discard_received(stream.socket.fileno())
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the peer is gone already
    finally:
        await trio.aclose_forcefully(stream)


def _discard_received(fd: int) -> None:
    with contextlib.suppress(OSError):  # BlockingIOError: nothing (more) has arrived
        for _ in range(16):  # 1 MiB at most, without a wait
            if not os.read(fd, 65536):
                return


def fit_descriptor_limit(connections: int) -> int:
    """Raise the soft RLIMIT_NOFILE, up to the hard one, so that `connections` (what the
    ports may hold at once) and SPARE_DESCRIPTORS fit; warn when they cannot: a flood of
    connections could then take every descriptor, and with them the Redis links. Returns
    the soft limit in force."""
    needed = connections + SPARE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (OSError, ValueError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "the descriptor limit (%d) is below what the ports may hold (%d, --max-connections +"
            " --max-http-connections + %d spare): raise it (LimitNOFILE=, ulimit -n) or lower"
            " --max-connections, or a flood of connections can lock everyone out",
            soft,
            needed,
            SPARE_DESCRIPTORS,
        )
    return soft


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
