"""The health and metrics port: GET /healthz, /readyz, /metrics (a minimal HTTP/1.1 responder).

/healthz: the process is alive. /readyz: Redis and its pub/sub link are up, the scripts are
loaded and the instance is not draining (what a load balancer should check). /metrics:
Prometheus text format. /calendar/<token>.ics: a user's calendar feed (transport/calendar.py).

One request per connection: the head is read within READ_TIMEOUT and MAX_REQUEST bytes
(else 400 or 431), the answer written within WRITE_TIMEOUT, then the connection closes.
GET and HEAD are answered (HEAD: the same headers, no body). At most `max_connections`
are held at once (`--max-http-connections`): each may be held for READ_TIMEOUT +
WRITE_TIMEOUT by a peer that says nothing, and any number of them took every descriptor
of the process, locking websocket users out. One more is answered 503 at once, without
being read, and closed.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Final

import trio

from roomful_meetings.metrics import TURNED_AWAY, exposition
from roomful_meetings.transport.admission import ConnectionCap
from roomful_meetings.transport.calendar import (
    NOT_FOUND,
    Answer,
    FeedLimiter,
    Render,
    answer_feed,
    feed_token,
)
from roomful_meetings.transport.listen import open_listeners, refusal, turn_away

MAX_REQUEST: Final = 8192
READ_TIMEOUT: Final = 5.0
WRITE_TIMEOUT: Final = 10.0
BUSY: Final = refusal("503 Service Unavailable", "busy: too many connections to this port; retry")

log = logging.getLogger(__name__)

Readiness = Callable[[], str | None]  # None when ready, else why not


async def serve_http(
    host: str,
    port: int,
    readiness: Readiness,
    *,
    render: Render | None = None,
    limiter: FeedLimiter | None = None,
    max_connections: int = 256,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; `render` makes calendar feeds (None: /calendar/ is 404);
    past `max_connections` held at once, a connection is answered 503 and closed."""
    listeners = await open_listeners(host, port, "--http-port")
    task_status.started(listeners[0].socket.getsockname()[1])
    limiter = limiter or FeedLimiter()
    cap = ConnectionCap(max_connections)

    async def answer(stream: trio.SocketStream) -> None:
        if not cap.accept():
            TURNED_AWAY.labels("http").inc()
            await turn_away(stream, BUSY)
            return
        try:
            await _answer(stream, readiness, render, limiter)
        finally:
            cap.close()

    await trio.serve_listeners(answer, listeners)


async def _answer(
    stream: trio.abc.Stream, readiness: Readiness, render: Render | None, limiter: FeedLimiter
) -> None:
    """One request, whatever the peer or the handler does: an error here would leave
    `serve_listeners` and stop the whole instance."""
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):  # a peer's reset
        async with stream:
            request = b""
            with trio.move_on_after(READ_TIMEOUT):
                while b"\r\n\r\n" not in request and len(request) < MAX_REQUEST:
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        break
                    request += chunk
            method = request.partition(b" ")[0]
            try:
                answer = await _respond(request, method, readiness, render, limiter)
            except Exception:  # a bug in one answer must not stop the listener
                error_id = secrets.token_hex(6)
                log.exception("error_id=%s unhandled error on the HTTP port", error_id)
                answer = Answer("500 Internal Server Error", "text/plain", f"error id {error_id}\n".encode())
            # A 304 describes the body it does not send: no Content-Length of its own
            # (RFC 9110 8.6: it would have to be the 200's), nor its type.
            described = (
                ""
                if answer.status.startswith("304")
                else f"Content-Type: {answer.content_type}\r\nContent-Length: {len(answer.body)}\r\n"
            )
            head = (
                f"HTTP/1.1 {answer.status}\r\n{described}"
                + "".join(f"{name}: {value}\r\n" for name, value in answer.headers)
                + "Connection: close\r\n\r\n"
            ).encode()
            body = b"" if method == b"HEAD" else answer.body
            with trio.move_on_after(WRITE_TIMEOUT):
                await stream.send_all(head + body)


async def _respond(
    request: bytes, method: bytes, readiness: Readiness, render: Render | None, limiter: FeedLimiter
) -> Answer:
    head, complete, _ = request.partition(b"\r\n\r\n")
    if not complete:
        if len(request) >= MAX_REQUEST:
            return Answer("431 Request Header Fields Too Large", "text/plain", b"request too large\n")
        return Answer("400 Bad Request", "text/plain", b"incomplete request\n")
    line, *fields = head.split(b"\r\n")
    path = line.partition(b" ")[2].partition(b" ")[0].split(b"?")[0]
    if method not in (b"GET", b"HEAD"):
        return Answer(
            "405 Method Not Allowed", "text/plain", b"GET or HEAD only\n", (("Allow", "GET, HEAD"),)
        )
    token = feed_token(path) if path.startswith(b"/calendar/") else None
    if token is None:
        return _route(path, readiness)
    if render is None:
        return NOT_FOUND
    return await answer_feed(token, _header(fields, b"if-none-match"), render, limiter, trio.current_time())


def _header(fields: list[bytes], name: bytes) -> bytes | None:
    for field in fields:
        key, _, value = field.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def _route(path: bytes, readiness: Readiness) -> Answer:
    if path == b"/healthz":
        return Answer("200 OK", "text/plain", b"ok\n")
    if path == b"/readyz":
        problem = readiness()
        if problem is None:
            return Answer("200 OK", "text/plain", b"ready\n")
        return Answer("503 Service Unavailable", "text/plain", f"not ready: {problem}\n".encode())
    if path == b"/metrics":
        return Answer("200 OK", "text/plain; version=0.0.4; charset=utf-8", exposition())
    return NOT_FOUND
