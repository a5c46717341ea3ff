"""The health and metrics port: GET /healthz, /readyz, /metrics (a minimal HTTP/1.1 responder).

/healthz: the process is alive. /readyz: Redis and its pub/sub link are up, the scripts are
loaded and the instance is not draining (what a load balancer should check). /metrics:
Prometheus text format.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Final

import trio

from roomful_meetings.metrics import exposition
from roomful_meetings.transport.listen import open_listeners

MAX_REQUEST: Final = 8192
READ_TIMEOUT: Final = 5.0

Readiness = Callable[[], str | None]  # None when ready, else why not


async def serve_http(
    host: str,
    port: int,
    readiness: Readiness,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    listeners = await open_listeners(host, port, "--http-port")
    task_status.started(listeners[0].socket.getsockname()[1])

    async def answer(stream: trio.SocketStream) -> None:
        await _answer(stream, readiness)

    await trio.serve_listeners(answer, listeners)


async def _answer(stream: trio.abc.Stream, readiness: Readiness) -> None:
    async with stream:
        request = b""
        with trio.move_on_after(READ_TIMEOUT):
            while b"\r\n\r\n" not in request and len(request) < MAX_REQUEST:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                request += chunk
        method, _, rest = request.partition(b" ")
        path = rest.partition(b" ")[0].split(b"?")[0]
        status, content_type, body = _route(method, path, readiness)
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(head + body)


def _route(method: bytes, path: bytes, readiness: Readiness) -> tuple[str, str, bytes]:
    if method != b"GET":
        return "405 Method Not Allowed", "text/plain", b"GET only\n"
    if path == b"/healthz":
        return "200 OK", "text/plain", b"ok\n"
    if path == b"/readyz":
        problem = readiness()
        if problem is None:
            return "200 OK", "text/plain", b"ready\n"
        return "503 Service Unavailable", "text/plain", f"not ready: {problem}\n".encode()
    if path == b"/metrics":
        return "200 OK", "text/plain; version=0.0.4; charset=utf-8", exposition()
    return "404 Not Found", "text/plain", b"not found\n"
