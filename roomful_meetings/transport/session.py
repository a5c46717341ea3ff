"""One websocket connection: a reader, a writer, and a task per request in flight.

Theory of operation: everything the connection sends (responses and pushes) goes through
one bounded queue drained by the writer task. Pushes never wait: a client whose queue is
full of undelivered events is closed (code 4008) instead of slowing anyone else. Responses
do wait for room, which stalls only this connection's own requests. The reader
checks the request rate, then waits for a free in-flight slot (back-pressure on a client
that sends faster than it is answered) and starts a task for the request. Closing is a
request: it cancels the connection's nursery and the websocket is closed with its code.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Final

import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from roomful_meetings.config import Settings
from roomful_meetings.domain.ratelimit import TokenBucket
from roomful_meetings.errors import RateLimited
from roomful_meetings.protocol.envelope import FrameError, decode_request, encode_error
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.dispatch import dispatch
from roomful_meetings.service.legacy import legacy_event_frame
from roomful_meetings.storage.redis import RedisError

log = logging.getLogger(__name__)


class _PushEvent(msgspec.Struct):
    id: str
    date: str


class _Push(msgspec.Struct):
    endpoint: str
    event: _PushEvent
    data: msgspec.Raw


_push_decoder = msgspec.json.Decoder(_Push)

CLOSE_GOING_AWAY: Final = 1001
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_TOKEN_EXPIRED: Final = 4001
CLOSE_TOO_SLOW: Final = 4008
CLOSE_TIMEOUT: Final = 2.0


class Session:
    def __init__(
        self,
        ws: WebSocketConnection,
        caller: Caller,
        services: Services,
        settings: Settings,
        *,
        expires_at: float | None,
        legacy: bool = False,
    ) -> None:
        self.ws = ws
        self.caller = caller
        self.user_id = caller.user_id
        self.services = services
        self.settings = settings
        self.expires_at = expires_at
        self.legacy = legacy
        self._outbox, self._outbox_reader = trio.open_memory_channel[str](settings.send_queue_frames)
        self._in_flight = trio.Semaphore(settings.max_in_flight)
        self._bucket = TokenBucket(settings.rate_per_second, settings.rate_burst, trio.current_time())
        self._rejected = 0
        self._legacy_in, self._legacy_out = trio.open_memory_channel[str](settings.send_queue_frames)
        self._cancel = trio.CancelScope()
        self.close_code = CLOSE_GOING_AWAY
        self.close_reason = ""

    def send(self, frame: str) -> None:
        """Queue a frame without waiting; a full queue means the client is too slow."""
        try:
            self._outbox.send_nowait(frame)
        except trio.WouldBlock:
            self.close(CLOSE_TOO_SLOW, "too slow: send queue full")
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    def deliver(self, event_id: str, frame: str) -> None:
        self.send(frame)
        if self.legacy:
            # The deprecated shape needs directory reads: a task of its own converts it.
            try:
                self._legacy_in.send_nowait(frame)
            except trio.WouldBlock:
                self.close(CLOSE_TOO_SLOW, "too slow: send queue full")

    def close(self, code: int, reason: str) -> None:
        if not self._cancel.cancel_called:
            self.close_code, self.close_reason = code, reason
            self._cancel.cancel()

    async def run(self) -> None:
        with self._cancel:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_loop)
                if self.expires_at is not None:
                    nursery.start_soon(self._expire)
                if self.legacy:
                    nursery.start_soon(self._legacy_loop)
                await self._read_loop(nursery)
                self._cancel.cancel()
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
            await self.ws.aclose(self.close_code, self.close_reason)

    async def _write_loop(self) -> None:
        async for frame in self._outbox_reader:
            try:
                await self.ws.send_message(frame)
            except ConnectionClosed:
                self.close(CLOSE_GOING_AWAY, "")
                return

    async def _legacy_loop(self) -> None:
        async for frame in self._legacy_out:
            push = _push_decoder.decode(frame)
            try:
                legacy = await legacy_event_frame(
                    self.services, push.endpoint, push.event.id, push.event.date, push.data
                )
            except RedisError as exc:
                log.warning("user=%s deprecated event %s not sent: %s", self.user_id, push.event.id, exc)
                continue
            if legacy is not None:
                self.send(legacy)

    async def _expire(self) -> None:
        assert self.expires_at is not None
        remaining = self.expires_at - time.time()
        await trio.sleep(max(0.0, remaining) if math.isfinite(remaining) else math.inf)
        self.close(CLOSE_TOKEN_EXPIRED, "token expired")

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        while True:
            try:
                message = await self.ws.get_message()
            except ConnectionClosed:
                return
            if isinstance(message, bytes):
                self.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted: send JSON text")
                return
            if not self._bucket.take(trio.current_time()):
                self._reject_rate(message)
                continue
            self._rejected = 0
            await self._in_flight.acquire()
            nursery.start_soon(self._answer, message)

    def _reject_rate(self, message: str) -> None:
        self._rejected += 1
        if self._rejected > self.settings.rate_burst:
            self.close(CLOSE_POLICY_VIOLATION, "request rate far above the limit")
            return
        endpoint: str | None
        event: msgspec.Raw | None
        try:
            request = decode_request(message)
            endpoint, event = request.endpoint, request.event
        except FrameError as exc:
            endpoint, event = exc.endpoint, exc.event
        limit = f"{self.settings.rate_per_second:g}/s"
        self.send(encode_error(endpoint, event, RateLimited(f"request rate above {limit}; slow down")))

    async def _answer(self, message: str) -> None:
        try:
            reply = await dispatch(self.services, self.caller, message)
            # A response waits for room in the queue: at most max_in_flight of them can, and
            # the reader stops reading meanwhile, so a client that does not read only stalls
            # itself. Pushes never wait (see `send`).
            with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                await self._outbox.send(reply)
        finally:
            self._in_flight.release()
