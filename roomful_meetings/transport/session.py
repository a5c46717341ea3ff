"""One websocket connection: a reader, the requests in flight, and its wire.

Theory of operation: everything the connection sends (responses and pushes) is framed here
and written through its WireStream, one bounded queue that goes straight to the socket
while the socket keeps up (see transport/wire.py). Pushes never wait: a client whose queue
is full of undelivered events is closed (code 4008) instead of slowing anyone else.
Responses do wait for room, which stalls only this connection's own requests.

Reading: once trio-websocket has done the handshake, the instance's reactor
(transport/reactor.py) tells the session when bytes arrive, and the session splits them
into messages with the sans-IO `FrameReader` (protocol/frames.py). The common case is
answered right there, with no task at all: one message, a request that needs at most one
Redis round trip (`one_round_trip`), nothing in flight and nothing queued to send. It is
driven without a task as Redis answers (service/dispatch.py `answer_inline`) and the next
bytes are read when it is answered. Everything else goes to the session's reader task:
it answers pings, checks the request rate, then waits for a free in-flight slot
(back-pressure on a client that sends faster than it is answered); a lone one-round-trip
request is answered by the reader itself, any other starts a task of its own, so that
slow requests overlap (up to --max-in-flight) and never hold up reading. While the reader
task is busy, or a request is in flight inline, nothing is read: the bytes wait in the
socket, so a client that sends faster than it is answered is slowed by TCP.

Closing is a request: it cancels the connection's nursery, then the close handshake is
trio-websocket's (it sends the close frame; the reader passes it the peer's). A peer that
breaks the protocol is sent a close frame with the code for it (1002, 1007, 1009) and
dropped without waiting for an answer, as RFC 6455 (7.1.7) says and wsproto does.
"""

from __future__ import annotations

import contextvars
import logging
import math
import time
from typing import Any, Final

import msgspec
import trio
from trio_websocket import WebSocketConnection

from roomful_meetings.config import Settings
from roomful_meetings.domain.ratelimit import TokenBucket
from roomful_meetings.domain.time import format_ms_utc
from roomful_meetings.errors import RateLimited
from roomful_meetings.fanout.delivery import Delivery, Verdict
from roomful_meetings.fanout.event import Event
from roomful_meetings.logs import CONNECTION_ID, REQUEST_ID
from roomful_meetings.metrics import CLOSES
from roomful_meetings.protocol.envelope import FrameError, Request, decode_request, encode_error, encode_push
from roomful_meetings.protocol.events import Ready, RecoveryIncomplete
from roomful_meetings.protocol.frames import Binary, Close, FrameFailure, FrameReader, Ping, Pong, Received
from roomful_meetings.protocol.websocket import close_frame, masked_close_frame, pong_frame, text_frame
from roomful_meetings.service.connection import ServiceUnavailable, missed_events, storage_guard
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.dispatch import (
    answer_inline,
    dispatch,
    large_answer,
    one_round_trip,
    read_request,
)
from roomful_meetings.service.legacy import legacy_event_frame
from roomful_meetings.transport.wire import WireStream

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
CLOSE_ABNORMAL: Final = 1006  # reported (never sent) when the peer went without a close frame
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN: Final = 1013
CLOSE_TOKEN_EXPIRED: Final = 4001
CLOSE_TOO_SLOW: Final = 4008
CLOSE_NO_PONG: Final = 4009
CLOSE_TIMEOUT: Final = 2.0
PING_FRAME: Final = b"\x89\x00"  # an unmasked ping with no payload; any answer will do
RETAIN_MS: Final = 24 * 3600 * 1000  # events older than this are not replayed
CATCH_UP_DELAYS: Final = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)  # seconds before each attempt
# A deprecated event's directory read is tried again after these (the current events behind
# it wait, up to about 8 s in all, so that they keep their order).
LEGACY_EVENT_DELAYS: Final = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)


class _Gone:
    """The peer closed or reset the connection without a close frame."""


GONE: Final = _Gone()

# What one read of the socket gave: messages and control frames, a violation, or the end.
Got = list[Received] | FrameFailure | _Gone


class Session:
    # Slots: tens of thousands of these live at once (memory per connection is measured).
    __slots__ = (
        "_bucket",
        "_cancel",
        "_catch_up_again",
        "_closing",
        "_context",
        "_delivery",
        "_draining",
        "_drivable",
        "_driven",
        "_ending",
        "_expiry",
        "_frames",
        "_handed",
        "_in_flight",
        "_large",
        "_legacy",
        "_nursery",
        "_pinged_at",
        "_pumping",
        "_reader",
        "_reading",
        "_rejected",
        "_requests",
        "_since",
        "_slot_freed",
        "caller",
        "close_code",
        "close_reason",
        "services",
        "settings",
        "user_id",
        "wire",
        "ws",
    )

    def __init__(
        self,
        ws: WebSocketConnection,
        wire: WireStream,
        caller: Caller,
        services: Services,
        settings: Settings,
        *,
        expires_at: float | None,
        legacy: bool = False,
        since: str | None = None,
    ) -> None:
        self.ws = ws
        self.wire = wire
        self.caller = caller
        self.user_id = caller.user_id
        self.services = services
        self.settings = settings
        # Requests being answered, and an event for a reader waiting for one to finish
        # (a counter, not a trio.Semaphore: it is lighter, and there are many sessions).
        self._in_flight = 0
        self._slot_freed: trio.Event | None = None
        self._large: trio.Lock | None = None  # made by the first large answer (`_answer_large`)
        self._bucket = TokenBucket(settings.rate_per_second, settings.rate_burst, trio.current_time())
        self._rejected = 0
        # Deprecated events get converted by a task of their own, on legacy=1 connections only.
        self._legacy: tuple[trio.MemorySendChannel[bytes], trio.MemoryReceiveChannel[bytes]] | None = (
            trio.open_memory_channel[bytes](settings.send_queue_frames) if legacy else None
        )
        self._cancel = trio.CancelScope()
        self._since = since
        # What was sent, and live events held while the connection starts or catches up.
        self._delivery = Delivery(settings.send_queue_frames)
        self._catch_up_again = False  # the link came back during a start or a catch-up
        self._nursery: trio.Nursery | None = None
        self._reading = trio.CancelScope()
        self._draining = False
        self._drivable = services.drivable  # requests may be answered without a task
        # Theirs: a copy of the connection task's (its id, for the logs), made in `run`.
        self._context = contextvars.Context()
        self._reader: trio.lowlevel.Task | None = None  # the reader task, while it waits for bytes
        self._handed: Got | None = None  # what was read for the reader task to act on
        self._pumping = False  # `_arrived` is reading and answering
        self._driven = False  # a request is being answered without a task
        self._pinged_at: float | None = None
        self._expiry = math.inf  # on the trio clock
        if expires_at is not None and math.isfinite(expires_at):
            self._expiry = trio.current_time() + (expires_at - time.time())
        self.close_code = CLOSE_GOING_AWAY
        self.close_reason = ""
        self._requests = 0
        self._frames = FrameReader(settings.max_frame_bytes)
        self._closing = False  # nothing may be sent but the close frame
        # How reading ended, for the close: the peer's close frame, a violation, or EOF.
        self._ending: Close | FrameFailure | _Gone | None = None

    @property
    def channel(self) -> bytes:
        """The events channel of the caller's tenant (fanout/hub.py)."""
        return self.services.keys.events_channel()

    def send(self, frame: bytes) -> None:
        """Send a message without waiting; a full queue means the client is too slow."""
        self._send_framed(text_frame(frame))

    def _send_framed(self, wire_frame: bytes, *, held: bool = False) -> None:
        if self._closing or self._cancel.cancel_called:
            # Nothing may follow the close frame, nor an event the close dropped (4008): a
            # client must see an unbroken run of events, or `since=` would skip the gap.
            return
        if not (self.wire.write_held if held else self.wire.write_nowait)(wire_frame):
            self.close(CLOSE_TOO_SLOW, "too slow: send queue full")

    def deliver(self, event: Event) -> None:
        """A live event from the hub, written when the hub calls `send_held`."""
        verdict = self._delivery.offer(event)
        if verdict is Verdict.SEND:
            self._send_event(event, held=True)
        elif verdict is Verdict.OVERFLOW:
            self.close(CLOSE_TOO_SLOW, "too slow: send queue full")

    def send_held(self) -> None:
        self.wire.send_held()

    def _send_event(self, event: Event, *, held: bool = False) -> None:
        self._send_framed(event.wire, held=held)
        if self._legacy is not None:
            # The deprecated shape needs directory reads: a task of its own converts it.
            try:
                self._legacy[0].send_nowait(event.frame)
            except trio.WouldBlock:
                self.close(CLOSE_TOO_SLOW, "too slow: send queue full")

    def close(self, code: int, reason: str) -> None:
        if not self._cancel.cancel_called:
            self.close_code, self.close_reason = code, reason
            CLOSES.labels(str(code)).inc()
            if code == CLOSE_TOO_SLOW:
                self.wire.discard()  # the close frame need not wait behind what it cannot read
            self._cancel.cancel()

    async def run(self) -> None:
        # The server handed the reads to this session at the handshake (wire.take_reads).
        self._context = contextvars.copy_context()
        with self._cancel:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self._legacy is not None:
                    nursery.start_soon(self._legacy_loop)
                await self._start()
                with self._reading:
                    await self._read_loop(nursery)
                if self._draining:
                    await self._finish_in_flight()
                self._cancel.cancel()
        await self._end()

    async def turn_away(self, code: int, reason: str) -> None:
        """Close a connection accepted but never run (its events cannot reach this
        instance) with the close handshake a session makes, no longer than one."""
        self.close(code, reason)
        await self._end()

    async def _end(self) -> None:
        self._closing = True
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
            await self._close_handshake()

    async def _close_handshake(self) -> None:
        """Close as the reading ended. (When it returns, the connection's stream is closed
        and trio-websocket's reader task cancelled, if they are not already.)"""
        ending = self._ending
        if isinstance(ending, FrameFailure):
            # Fail the connection: say why, and drop it without waiting for an answer.
            self.wire.write_nowait(close_frame(ending.code, ending.reason))
            await self.wire.drained()
        elif isinstance(ending, Close):
            # trio-websocket answers the peer's close (with its code) and closes the stream.
            await self.wire.give(masked_close_frame(ending.payload))
        elif ending is None:
            # Our close: trio-websocket sends it; the peer's answer is passed on to it.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pass_close_answer)
                await self.ws.aclose(self.close_code, self.close_reason)
                nursery.cancel_scope.cancel()
        # GONE: the peer closed or reset the connection; there is nobody to answer.

    async def _pass_close_answer(self) -> None:
        """While closing: read on, drop messages, and hand the peer's close frame (or the
        end of the stream) to trio-websocket."""
        while True:
            data = await self.wire.read()
            try:
                received = self._frames.feed(data) if data else []
            except FrameFailure:
                received = []
                data = b""
            for item in received:
                if isinstance(item, Close):
                    await self.wire.give(masked_close_frame(item.payload))
                    return
            if not data:
                self.wire.give_nowait(b"")  # trio-websocket sees the end and stops waiting
                return

    async def _start(self) -> None:
        """connection:recoveryIncomplete (if so), connection:ready, the replay, then live;
        or, when Redis fails before any of it is sent, a close the client can act on (it
        used to escape as an exception: no close frame, and a 1001 in the log)."""
        try:
            with storage_guard():
                await self._replay_and_go_live()
        except ServiceUnavailable as exc:
            log.warning(
                "user=%s could not start (since=%r): storage unavailable: %s", self.user_id, self._since, exc
            )
            self.close(CLOSE_TRY_AGAIN, "storage unavailable; reconnect with since")

    async def _replay_and_go_live(self) -> None:
        events = self.services.events
        now_ms = int(time.time() * 1000)
        last_id = await events.last_event_id(self.user_id)
        replay: list[tuple[str, bytes]] = []
        if self._since is not None:
            complete, replay = await events.since(
                self.user_id, self._since, max_age_ms=RETAIN_MS, now_ms=now_ms
            )
            if not complete:
                self._say_incomplete(self._since, replay, last_id, now_ms)
        ready = Ready(lastEventId=last_id)
        self.send(encode_push("connection:ready", last_id, format_ms_utc(now_ms), ready))
        await self._release(replay)
        # Everything up to lastEventId is settled for this connection (replayed, or from
        # before it and not asked for): a catch-up after a pub/sub outage starts there.
        if last_id:
            self._delivery.settle(last_id)
        self._caught_up()

    def _say_incomplete(
        self, since: str, replay: list[tuple[str, bytes]], event_id: str, now_ms: int
    ) -> None:
        """connection:recoveryIncomplete: events after `since` are lost to this connection
        (older than what is retained); what is replayed starts at its oldestEventId."""
        data = RecoveryIncomplete(since=since, oldestEventId=replay[0][0] if replay else "")
        self.send(encode_push("connection:recoveryIncomplete", event_id, format_ms_utc(now_ms), data))

    def drain(self) -> None:
        """Shutting down: read no more requests, answer those already read (in flight, or
        with the reader task), then close 1001."""
        self._draining = True
        self.close_code, self.close_reason = CLOSE_GOING_AWAY, "server shutting down"
        if self._reader is not None:  # waiting for bytes: nothing read is left unanswered
            self._reading.cancel()
        # Otherwise the reader stops when it next comes back for bytes (`_next_read`).

    async def _finish_in_flight(self) -> None:
        while self._in_flight:
            await self._slot_wait()
        await self.wire.drained()

    def catch_up(self) -> None:
        """After the pub/sub link was down: send what this connection missed, in order."""
        if self._nursery is None:
            return  # not started: its start reads the stream anyway
        since = self._delivery.hold()
        if since is not None:
            self._nursery.start_soon(self._catch_up, since)
        else:
            # A start or a catch-up is under way, and may have read the stream before the
            # link went down again: read once more after it (`_caught_up`), or an event
            # published meanwhile would be in neither its read nor the live ones.
            self._catch_up_again = True

    def _caught_up(self) -> None:
        if self._catch_up_again:
            self._catch_up_again = False
            self.catch_up()

    async def _catch_up(self, since: str) -> None:
        for delay in CATCH_UP_DELAYS:
            await trio.sleep(delay)
            now_ms = int(time.time() * 1000)
            try:
                # "": this connection has seen no event, and its user had none when it
                # started: all of them are its to receive (contract 6).
                complete, missed = await missed_events(
                    self.services,
                    self.user_id,
                    since,
                    max_age_ms=RETAIN_MS,
                    now_ms=now_ms,
                    from_nothing=since == "",
                )
            except ServiceUnavailable as exc:
                # Redis may confirm a subscription while it is still loading its data.
                log.info("user=%s catch-up after an outage failed, retrying: %s", self.user_id, exc)
                continue
            if not complete:  # more was missed than a stream keeps: said as at a start
                self._say_incomplete(since, missed, missed[-1][0] if missed else since, now_ms)
            await self._release(missed)
            self._caught_up()
            return
        # Going on live would skip what was missed: the client reconnects with since= instead.
        self.close(CLOSE_TRY_AGAIN, "could not catch up after a storage outage; reconnect with since")

    async def _release(self, replay: list[tuple[str, bytes]]) -> None:
        for event_id, frame in replay:
            event = Event(event_id, frame)
            if self._delivery.replayed(event):
                self._send_event(event)
            await trio.lowlevel.checkpoint()
        for event in self._delivery.go_live():
            self._send_event(event)

    async def _legacy_loop(self) -> None:
        assert self._legacy is not None
        async for frame in self._legacy[1]:
            push = _push_decoder.decode(frame)
            for delay in LEGACY_EVENT_DELAYS:
                await trio.sleep(delay)
                try:
                    with storage_guard():
                        legacy = await legacy_event_frame(
                            self.services, push.endpoint, push.event.id, push.event.date, push.data
                        )
                except ServiceUnavailable as exc:
                    log.info("user=%s deprecated event %s: retrying: %s", self.user_id, push.event.id, exc)
                    continue
                if legacy is not None:
                    self.send(legacy)
                break
            else:
                # Going on would skip it for good (a replay after its id does not hold it).
                self.close(CLOSE_TRY_AGAIN, "could not build a deprecated event; reconnect")
                return

    def check_alive(self, now: float) -> None:
        """Called by the instance's keepalive sweep (transport/keepalive.py), with the trio
        clock: close the connection when its token has expired; ping a client that has
        been silent (a dead peer or a half-open TCP link would otherwise hold its resources
        for ever) and close it when nothing came back in time. Anything read from the
        client counts as an answer, the pong included."""
        if now >= self._expiry:
            self.close(CLOSE_TOKEN_EXPIRED, "token expired")
            return
        heard = self.wire.heard_at
        if self._pinged_at is not None:
            if heard >= self._pinged_at:
                self._pinged_at = None
            elif now - self._pinged_at >= self.settings.ping_timeout:
                self.close(CLOSE_NO_PONG, "no pong: connection presumed dead")
                return
        if self._pinged_at is None and now - heard >= self.settings.ping_interval:
            self._pinged_at = now
            self._send_framed(PING_FRAME)

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        self.wire.on_readable = self._arrived
        try:
            while True:
                got = await self._next_read()
                if got is None:
                    return
                if isinstance(got, _Gone):
                    self._ending = GONE
                    self.close_code, self.close_reason = CLOSE_ABNORMAL, "the peer went without a close frame"
                    return
                if isinstance(got, FrameFailure):
                    if await self._handle(got.received, nursery):
                        self._ending = got
                        self.close(got.code, got.reason)
                    return
                if not await self._handle(got, nursery):
                    return
        finally:
            self.wire.on_readable = None

    async def _next_read(self) -> Got | None:
        """What `_arrived` handed over, or the next read (waiting for bytes); None once
        draining."""
        while True:
            got = self._handed
            if got is not None:
                self._handed = None
                return got
            if self._draining:
                return None
            if self.wire.readable:
                data = self.wire.read_now()
                if data is not None:
                    return self._split(data)
            self._reader = trio.lowlevel.current_task()

            def abort(_: Any) -> trio.lowlevel.Abort:
                self._reader = None
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)

    def _split(self, data: bytes) -> Got:
        if not data:
            return GONE
        try:
            return self._frames.feed(data)
        except FrameFailure as failure:
            return failure

    def _arrived(self) -> None:
        """Bytes arrived (the reactor) or an inline answer was sent: while the reader task
        waits for bytes and nothing is in flight, read them here, and answer a lone
        one-round-trip request inline; hand anything else to the reader task."""
        if self._pumping or self._driven:
            return  # the loop below goes on, or the inline answer's end comes back here
        self._pumping = True
        try:
            # Until a request is being answered inline: its end comes back here.
            while self._reader is not None and not self._driven and self.wire.readable and not self._draining:
                if self._in_flight:  # requests in tasks: the reader reads, by its rules
                    self._wake_reader(None)
                    return
                data = self.wire.read_now()
                if data is None:
                    return
                got = self._split(data)
                if not self._answered_inline(got):
                    self._wake_reader(got)
                    return
        except Exception:
            # In the reactor's task: the connection's context carries its id into the line.
            self._context.run(log.exception, "user=%s reading failed", self.user_id)
            self.close(CLOSE_INTERNAL_ERROR, "internal error")
        finally:
            self._pumping = False

    def _wake_reader(self, got: Got | None) -> None:
        assert self._reader is not None
        self._handed = got
        reader, self._reader = self._reader, None
        trio.lowlevel.reschedule(reader)

    def _answered_inline(self, got: Got) -> bool:
        """Start answering `got` here if it is one one-round-trip request and nothing stands
        in the way (see the module's docstring); True when it is taken care of."""
        if type(got) is not list or len(got) != 1 or type(got[0]) is not bytes:
            return False
        if not self._drivable or self._draining or self._cancel.cancel_called or self.wire.queued:
            return False
        message = got[0]
        request = read_request(message)
        if not one_round_trip(request):
            return False
        if not self._within_rate(message, self.wire.heard_at):  # when it came: this pass
            return True
        self._in_flight += 1
        self._driven = True
        answer_inline(self._reply(request), self._context, self._answered)
        return True

    def _answered(self, reply: bytes | None, error: BaseException | None) -> None:
        """The end of a request answered without a task."""
        self._driven = False
        self._one_done()
        if error is not None:
            self._context.run(log.error, "user=%s request failed", self.user_id, exc_info=error)
            self.close(CLOSE_INTERNAL_ERROR, "internal error")
            return
        if reply is not None and not (self._closing or self._cancel.cancel_called):
            self.wire.write_over(text_frame(reply))  # (closing: as the cancelled tasks' would not)
        self._arrived()  # bytes that came meanwhile

    async def _handle(self, received: list[Received], nursery: trio.Nursery) -> bool:
        """Act on what one read completed, in order; False once the connection is ending."""
        last = len(received) - 1
        for index, item in enumerate(received):
            if type(item) is bytes:
                await self._request(item, nursery, alone=index == last)
            elif isinstance(item, Ping | Pong):
                # Control frames spend the request rate's tokens too: a flood of them
                # costs the instance as requests do (contract 3: an abusive client is closed).
                if not self._control_within_rate(trio.current_time()):
                    if self._cancel.cancel_called:
                        return False  # closed: far above the rate
                elif isinstance(item, Ping):
                    self._send_framed(pong_frame(item.payload))
            elif isinstance(item, Close):
                self._ending = item
                self.close_code, self.close_reason = item.code, item.reason  # the peer's, for the log
                return False
            elif isinstance(item, Binary):
                self.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted: send JSON text")
                return False
        return True

    async def _request(self, message: bytes, nursery: trio.Nursery, *, alone: bool) -> None:
        if not self._within_rate(message, trio.current_time()):
            return
        while self._in_flight >= self.settings.max_in_flight:
            await self._slot_wait()
        await self.wire.room()  # a client that does not read its answers is given no more
        self._in_flight += 1
        request = read_request(message)
        if alone and self._in_flight == 1 and one_round_trip(request):
            # Nothing else in flight or read: answering here costs no task and no hop, and
            # keeps the order; the next read waits one Redis round trip at most.
            await self._answer(request)
        else:
            nursery.start_soon(self._answer, request)

    async def _slot_wait(self) -> None:
        if self._slot_freed is None:
            self._slot_freed = trio.Event()
        await self._slot_freed.wait()

    def _within_rate(self, message: bytes, now: float) -> bool:
        """Spend a token for `message`; without one it is answered 429 (or the connection
        closed, far above the rate) and False is returned."""
        if not self._bucket.take(now):
            self._reject_rate(message)
            return False
        self._rejected = 0
        return True

    def _control_within_rate(self, now: float) -> bool:
        """Spend a token for a ping or pong; without one it is dropped (no pong), and far
        above the rate the connection is closed."""
        if self._bucket.take(now):
            self._rejected = 0
            return True
        self._rejected += 1
        if self._rejected > self.settings.rate_burst:
            self.close(CLOSE_POLICY_VIOLATION, "control frame rate far above the limit")
        return False

    def _reject_rate(self, message: bytes) -> None:
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

    async def _reply(self, request: Request | FrameError) -> bytes:
        self._requests += 1
        # In the request's task, the reader's, or the connection's context when inline.
        request_id = REQUEST_ID.set(f"{CONNECTION_ID.get()}-{self._requests}")
        try:
            return await dispatch(self.services, self.caller, request)
        finally:
            REQUEST_ID.reset(request_id)

    async def _answer(self, request: Request | FrameError) -> None:
        try:
            if large_answer(request):
                await self._answer_large(request)
            else:
                await self._write_answer(await self._reply(request))
        finally:
            self._one_done()

    async def _answer_large(self, request: Request | FrameError) -> None:
        """An answer that grows with the data (up to --max-answer-bytes): one at a time,
        built once the queue has room and held until it is queued, so that listings in
        flight cost the connection about one answer besides its queue, not one each (32
        year-long deprecated listings held 2 GB). The others wait their turn here, in
        order (a trio.Lock is fair), unbuilt."""
        if self._large is None:
            self._large = trio.Lock()
        async with self._large:
            await self.wire.room()
            await self._write_answer(await self._reply(request))

    async def _write_answer(self, reply: bytes) -> None:
        # A response waits for room in the queue: at most max_in_flight of them can, and
        # the reader stops reading meanwhile, so a client that does not read only stalls
        # itself. Pushes never wait (see `send`).
        if not self._closing:
            try:  # noqa: SIM105 - a contextlib.suppress per response showed in the profile
                await self.wire.write(text_frame(reply))
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                pass  # the connection went meanwhile: nobody to answer

    def _one_done(self) -> None:
        self._in_flight -= 1
        if self._slot_freed is not None:
            self._slot_freed.set()
            self._slot_freed = None
