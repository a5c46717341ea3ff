"""The websocket endpoint: authenticate the handshake, then run a Session per connection.

Everything that can refuse a connection happens before the websocket is accepted, so a
refusal is an HTTP status: 403 for an Origin not allowed, 401 for a bad token, 429 over the
per-user cap, 503 when Redis is unreachable, and 503 at once, before the handshake is read,
when the instance holds `--max-connections` already (transport/admission.py).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import partial
from urllib.parse import parse_qs, urlsplit

import trio
from trio_websocket import WebSocketRequest, wrap_server_stream

from roomful_meetings.auth import AuthError, Identity, TokenVerifier
from roomful_meetings.config import Settings, worker_index
from roomful_meetings.fanout.hub import Hub, NotListening
from roomful_meetings.logs import CONNECTION_ID, new_connection_id
from roomful_meetings.metrics import TURNED_AWAY
from roomful_meetings.protocol.origins import origin_refused, parse_allowed_origins
from roomful_meetings.service.connection import ServiceUnavailable, on_connect
from roomful_meetings.service.context import Caller
from roomful_meetings.service.tenants import Tenants
from roomful_meetings.transport.admission import FULL, Admission
from roomful_meetings.transport.keepalive import Keepalive
from roomful_meetings.transport.listen import open_listeners, refusal, turn_away
from roomful_meetings.transport.reactor import Reactor
from roomful_meetings.transport.session import Session
from roomful_meetings.transport.wire import WireStream

log = logging.getLogger(__name__)

FULL_ANSWER = refusal(f"{FULL[0]} Service Unavailable", FULL[1])


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    token: str
    since: str | None
    legacy: bool


def connect_options(request: WebSocketRequest) -> ConnectOptions:
    query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
    token = ""
    for name, value in request.headers:
        if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
            token = value[7:].decode("latin-1").strip()
    if not token:
        token = query.get("token", [""])[0]
    since = query["since"][0] if "since" in query else None
    legacy = query.get("legacy", ["0"])[0].lower() in ("1", "true", "yes")
    return ConnectOptions(token=token, since=since, legacy=legacy)


class WebsocketServer:
    def __init__(self, settings: Settings, tenants: Tenants, hub: Hub, verifier: TokenVerifier) -> None:
        self.settings = settings
        self.tenants = tenants
        self.hub = hub
        self.verifier = verifier
        self.keepalive = Keepalive(settings)
        self.admission = Admission(settings.max_connections, settings.max_connections_per_user)
        self.allowed_origins = parse_allowed_origins(settings.allowed_origins)
        self.reactor = Reactor()  # every session's reads (run by `serve`)
        self._released = trio.Event()  # a connection slot was released (while draining)

    async def serve(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until `stop` is set, then drain: accept nothing new, let every connection
        answer its requests in flight and close with 1001, within the shutdown deadline."""
        shared = worker_index() > 0  # one of `serve --workers N`: the port is shared
        listeners = await open_listeners(self.settings.host, self.settings.port, "--port", shared=shared)
        port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as connections:
            connections.start_soon(self.keepalive.run)
            connections.start_soon(self.reactor.run)
            async with trio.open_nursery() as listening:
                await listening.start(
                    partial(trio.serve_listeners, self._accept, listeners, handler_nursery=connections)
                )
                task_status.started(port)
                await stop.wait()
                listening.cancel_scope.cancel()
            log.info(
                "draining %d connections (deadline %gs)",
                self.hub.connections,
                self.settings.shutdown_deadline,
            )
            self.hub.drain_all()
            with trio.move_on_after(self.settings.shutdown_deadline):
                await self._until_no_connection_held()
            connections.cancel_scope.cancel()  # also handshakes that never finished

    async def _until_no_connection_held(self) -> None:
        """Every admitted connection has ended: the sessions (drained), and the handshakes
        that were past the token check when the drain began (answered 503)."""
        while self.admission.held:
            self._released = trio.Event()
            await self._released.wait()

    async def _accept(self, stream: trio.SocketStream) -> None:
        """One TCP connection: counted, or turned away when the instance is full; then the
        websocket handshake, then `_handle`."""
        if not self.admission.accept():
            TURNED_AWAY.labels("websocket").inc()
            await turn_away(stream, FULL_ANSWER)
            return
        try:
            await self._connection(stream)
        finally:
            self.admission.close()

    async def _connection(self, stream: trio.SocketStream) -> None:
        """The handshake, within `--handshake-timeout`, then `_handle`. Its bytes go out
        through a WireStream, so that events can be written to it without awaiting."""
        async with trio.open_nursery() as nursery:
            wire = WireStream(
                stream, nursery, self.settings.send_queue_frames, self.settings.send_queue_bytes
            )
            try:
                request = None
                with trio.move_on_after(self.settings.handshake_timeout):
                    request = await wrap_server_stream(
                        nursery, wire, max_message_size=self.settings.max_frame_bytes
                    )
                if request is not None:
                    # The session reads from here on: what the client sends after the 101
                    # must not reach trio-websocket's reader (see WireStream).
                    wire.take_reads(self.reactor)
                    await self._handle(request, wire)
            finally:
                nursery.cancel_scope.cancel()
                await trio.aclose_forcefully(wire)

    async def _handle(self, request: WebSocketRequest, wire: WireStream) -> None:
        CONNECTION_ID.set(new_connection_id())  # this task and the session's tasks log it
        refused = origin_refused(request.headers, self.allowed_origins)
        if refused is not None:  # before the token: a hijacking page must learn nothing
            log.info("refused: origin %r is not allowed", refused)
            await _reject(request, 403, f"origin not allowed: {refused}")
            return
        options = connect_options(request)
        if not options.token:
            await _reject(request, 401, "missing token: send Authorization: Bearer <jwt> or ?token=<jwt>")
            return
        try:
            identity = self.verifier.verify(options.token)
        except AuthError as exc:
            log.info("refused: invalid token (%s)", exc)
            await _reject(request, 401, f"invalid token: {exc}")
            return
        holder = f"{identity.tenant}/{identity.user_id}"  # the same id in two tenants: two users
        refusal = self.admission.reserve(holder)
        if refusal is not None:
            await _reject(request, *refusal)
            return
        try:
            await self._admitted(request, wire, identity, options)
        finally:
            self.admission.release(holder)
            self._released.set()

    async def _admitted(
        self, request: WebSocketRequest, wire: WireStream, identity: Identity, options: ConnectOptions
    ) -> None:
        """A handshake holding a connection slot: accept it and run its session."""
        services = self.tenants.services(identity.tenant)
        try:
            await on_connect(services, identity)
        except ServiceUnavailable as exc:
            log.warning("refusing connection of %s: storage unavailable (%s)", identity.user_id, exc)
            await _reject(request, 503, "storage unavailable; retry later")
            return
        except Exception:  # a bug must still answer the handshake, and be logged
            error_id = secrets.token_hex(6)
            log.exception("error_id=%s connecting user=%s failed", error_id, identity.user_id)
            await _reject(request, 500, f"internal error (error id {error_id})")
            return
        if self.hub.draining:  # the drain began during this handshake
            await _reject(request, 503, "this server instance is shutting down; connect to another")
            return
        ws = await request.accept()
        caller = Caller(identity.user_id, identity.is_admin, identity.tenant)
        session = Session(
            ws,
            wire,
            caller,
            services,
            self.settings,
            expires_at=identity.expires_at,
            legacy=options.legacy,
            since=options.since,
        )
        try:
            await self.hub.join(session)
        except NotListening:
            # The session reads the socket since the handshake: it passes the peer's close
            # answer on (a bare ws.aclose would wait for it for ever, holding the slot).
            await session.turn_away(1013, "storage unavailable; retry later")
            return
        log.info(
            "connected user=%s peer=%s tenant=%s legacy=%s since=%s",
            caller.user_id,
            wire.peer,
            caller.tenant,
            options.legacy,
            options.since,
        )
        self.keepalive.connections.add(session)
        try:
            await session.run()
        finally:
            self.keepalive.connections.discard(session)
            self.hub.leave(session)
            log.info(
                "closed user=%s code=%s reason=%r", caller.user_id, session.close_code, session.close_reason
            )


async def _reject(request: WebSocketRequest, status: int, message: str) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    await request.reject(status, extra_headers=headers, body=message.encode())
