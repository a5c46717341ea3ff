"""The typed client: one method per endpoint, taking and returning Structs, events as an
async iterator, and reconnection with `since=` so that no event is lost or repeated:

    async with open_client("ws://127.0.0.1:8765", token) as client:
        meeting = await client.create_meeting(CreateMeeting(...))
        async for event in client.events():
            print(event.name, event.data)
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

import msgspec
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError

from roomful_meetings.client.raw import Client, Frame, as_itself, connect, event_ids
from roomful_meetings.domain import recurrence
from roomful_meetings.domain.time import to_minute
from roomful_meetings.errors import error_for_code
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol import replies as r
from roomful_meetings.protocol.event_ids import is_later
from roomful_meetings.protocol.events import EVENTS, Ready
from roomful_meetings.protocol.models import LegacyMeeting, Meeting

T = TypeVar("T")
log = logging.getLogger(__name__)


def typed(data: Any, kind: type[T]) -> T:
    """`data` as read from JSON, as `kind`: through JSON again, because a model may keep a
    part as it came (the deprecated room's thumbnail is `msgspec.Raw`), which only a
    decoder can fill."""
    return msgspec.json.decode(msgspec.json.encode(data), type=kind)


@dataclass(frozen=True, slots=True)
class Event:
    """A push: `data` is the Struct of protocol.events.EVENTS for known names."""

    name: str
    id: str
    date: str
    data: Any


TokenSource = str | Callable[[], str]
RECONNECT_FIRST: Final = 0.1
RECONNECT_MAX: Final = 5.0
# A connection ready for this long starts the backoff anew when it drops; one closed
# sooner (the server closes 1013 while its storage is down) counts as a failed attempt.
STABLE_SECONDS: Final = 2.0
# Handshake refusals that another attempt cannot fix (a fresh token from a callable can).
FATAL_STATUS: Final = frozenset({400, 401, 403})


class MeetingsClient:
    """Create with `open_client`. Safe to use from many tasks at once."""

    def __init__(
        self, url: str, token: TokenSource, *, legacy: bool, since: str | None, retries: int, events: bool
    ) -> None:
        self.url = url
        self._token = token
        self._legacy = legacy
        self.last_event_id = since
        self._retries = retries
        self._keep_events = events
        self.events_discarded = 0
        self._conn: Client | None = None
        self._connected = trio.Event()
        self._disconnected = trio.Event()
        self._events_in, self._events_out = trio.open_memory_channel[Event](10_000)
        # One id series for all the connections it makes: a resend keeps its event.id.
        self._next_event_id = event_ids()
        self.reconnects = 0
        self._opened = False  # the first connection:ready came: the block of open_client runs
        self._closing = False  # the block of open_client has ended
        self._stop = trio.CancelScope()  # open_client's nursery
        self.failed: ConnectionRejected | None = None  # the refusal that ended the block
        self._ready_at: float | None = None  # when the current connection became ready

    # -- connection ----------------------------------------------------------------------

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Stay connected: after a drop, reconnect with since=<last event seen>."""
        delay = RECONNECT_FIRST
        while True:
            self._ready_at = None
            try:
                await self._connect_once(task_status)
                if self._was_stable():
                    delay = RECONNECT_FIRST  # it worked for a while: the next drop is news
            except (OSError, HandshakeError, ConnectionClosed) as exc:
                if not self._opened:
                    raise
                if isinstance(exc, ConnectionRejected) and exc.status_code in FATAL_STATUS:
                    # Ends the block of open_client, which raises it as it is (not inside
                    # the nursery's exception group).
                    self.failed = exc
                    self._stop.cancel()
                    return
            if self._closing:
                return
            self.reconnects += 1
            await trio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, RECONNECT_MAX)

    def _was_stable(self) -> bool:
        """Whether the connection that just ended was ready for STABLE_SECONDS."""
        return self._ready_at is not None and trio.current_time() - self._ready_at >= STABLE_SECONDS

    async def _connect_once(self, task_status: trio.TaskStatus[None]) -> None:
        token = self._token() if callable(self._token) else self._token
        query = {"legacy": "1"} if self._legacy else {}
        if self.last_event_id is not None:
            query["since"] = self.last_event_id
        async with connect(self.url, token, None, **query) as conn:
            self._conn = conn
            self._connected.set()
            self._disconnected = trio.Event()
            try:
                async for frame in conn.pushes():
                    if frame.endpoint == "connection:ready":
                        self._ready_at = trio.current_time()
                    await self._on_push(frame)
                    if not self._opened and frame.endpoint == "connection:ready":
                        # Started only now: the event of a change made from here on is
                        # after lastEventId, so it is this connection's to receive.
                        self._opened = True
                        task_status.started()
            finally:
                self._conn, self._connected = None, trio.Event()
                self._disconnected.set()
        if not self._opened:  # the first connection ended before it was ready
            raise ConnectionClosed(conn.ws.closed)

    async def _on_push(self, frame: Frame) -> None:
        name, event_id = frame.endpoint or "", str(frame.event.id) if frame.event else ""
        known = EVENTS.get(name)
        data = frame.data
        if known:
            try:
                data = typed(frame.data, known[0])
            except msgspec.ValidationError as exc:  # a newer server's shape: keep it, untyped
                log.warning("event %s kept untyped: %s", name, exc)
        if name.startswith("connection:"):
            # Their event.id is the user's newest id, and a replay after since= follows
            # them: only a first connection takes the newest id, from ready's data ("": none
            # yet, and since= then replays from the oldest kept).
            if isinstance(data, Ready) and self.last_event_id is None:
                self.last_event_id = data.lastEventId
        elif event_id and is_later(event_id, self.last_event_id):
            self.last_event_id = event_id
        if not self._keep_events:
            self.events_discarded += 1
            return
        await self._events_in.send(Event(name, event_id, str(frame.event.date if frame.event else ""), data))

    async def _close(self) -> None:
        """Close the current connection with the close handshake (at most 1 s): the
        server then sees a client that left, not a dropped link."""
        self._closing = True
        conn = self._conn
        if conn is not None:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await conn.ws.aclose()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    async def wait_disconnected(self) -> None:
        """Until the current connection drops (reconnection then starts by itself)."""
        await self._disconnected.wait()

    def events(self) -> trio.MemoryReceiveChannel[Event]:
        """Every push in order, across reconnections (connection:ready after each one).

        Read them: 10,000 unread events stop this client reading its connection, and the
        server then closes it as too slow; the client reconnects and the events are
        replayed. Open with `events=False` when only requests matter."""
        return self._events_out

    async def request(self, endpoint: str, data: Any, *, event_id: str | None = None) -> Any:
        """Send one request; its data, or the ApiError of its code. A request cut off by a
        lost connection is sent again after reconnecting, with the same event.id, so the
        server applies a change once (safe retries)."""
        event_id = event_id or self._next_event_id()
        for attempt in range(self._retries + 1):
            await self._connected.wait()
            conn = self._conn
            if conn is None:
                continue
            try:
                frame = await conn.request(endpoint, data, event_id=event_id)
            except ConnectionClosed:
                if attempt == self._retries:
                    raise
                continue
            if frame.error.status:
                raise error_for_code(frame.error.code, frame.error.message)
            return frame.data
        raise ConnectionClosed(None)

    async def _call(self, endpoint: str, data: Any, reply: type[T]) -> T:
        return typed(await self.request(endpoint, data), reply)

    # -- meetings ------------------------------------------------------------------------

    async def create_meeting(self, meeting: p.CreateMeeting) -> Meeting:
        return (await self._call("meeting:createMeeting", meeting, r.MeetingReply)).meeting

    async def update_meeting(self, change: p.UpdateMeeting) -> Meeting:
        return (await self._call("meeting:updateMeeting", change, r.MeetingReply)).meeting

    async def delete_meeting(self, meeting_id: str, *, scope: p.Scope | None = None) -> None:
        """Delete a meeting or a whole series; with an instance id, cancel that instance
        (`scope="following"`: end the series before it)."""
        await self.request("meeting:deleteMeeting", p.DeleteMeeting(meeting_id, scope))

    # -- recurring meetings (contract 9) ---------------------------------------------------

    @staticmethod
    def instance_id(series_id: str, original_start: datetime) -> str:
        """The id of a series' instance that originally starts at `original_start`."""
        return recurrence.instance_id(series_id, to_minute(original_start, "original_start"))

    async def create_series(
        self, meeting: p.CreateMeeting, rule: str, time_zone: str | None = None
    ) -> Meeting:
        """A series: `meeting` is its first occurrence, `rule` an RRULE value."""
        meeting = msgspec.structs.replace(meeting, recurrence=p.RecurrenceIn(rule, time_zone))
        return await self.create_meeting(meeting)

    async def list_instances(self, query: p.ListUserMeetings) -> list[Meeting]:
        """The instances of series in a range (single meetings left out)."""
        return [m for m in (await self.list_user_meetings(query)).meetings if m.seriesId]

    async def split_series(self, change: p.UpdateMeeting) -> Meeting:
        """Change `change.meetingId` (an instance) and every later instance: the series ends
        before it and the new series (new id) is returned."""
        return await self.update_meeting(msgspec.structs.replace(change, scope="following"))

    async def cancel_instance(self, instance_id: str) -> None:
        await self.delete_meeting(instance_id)

    async def get_meeting(self, meeting_id: str) -> Meeting:
        return (await self._call("meeting:getMeeting", p.MeetingRef(meeting_id), r.MeetingReply)).meeting

    async def list_user_meetings(self, query: p.ListUserMeetings) -> r.MeetingList:
        return await self._call("meeting:listUserMeetings", query, r.MeetingList)

    async def accept_meeting_request(self, meeting_id: str) -> None:
        await self.request("meeting:acceptMeetingRequest", p.MeetingRef(meeting_id))

    async def decline_meeting_request(self, meeting_id: str) -> None:
        await self.request("meeting:declineMeetingRequest", p.MeetingRef(meeting_id))

    # -- availability and slots ----------------------------------------------------------

    async def set_user_availability(self, request: p.SetAvailability) -> None:
        await self.request("meeting:setUserAvailability", request)

    async def get_user_availability_pattern(self, query: p.LocalDateQuery) -> r.Pattern:
        return (await self._call("meeting:getUserAvailabilityPattern", query, r.PatternReply)).pattern

    async def get_user_availability_for_day(self, query: p.LocalDateQuery) -> r.Availability:
        return (
            await self._call("meeting:getUserAvailabilityForDay", query, r.AvailabilityReply)
        ).availability

    async def get_user_availability_for_week(self, query: p.LocalDateQuery) -> r.Availability:
        return (
            await self._call("meeting:getUserAvailabilityForWeek", query, r.AvailabilityReply)
        ).availability

    async def get_user_availability_for_month(self, query: p.LocalDateQuery) -> r.Availability:
        return (
            await self._call("meeting:getUserAvailabilityForMonth", query, r.AvailabilityReply)
        ).availability

    async def get_time_slots_for_meeting(self, query: p.SlotQuery) -> list[r.Span]:
        return (await self._call("meeting:getTimeSlotsForMeeting", query, r.SlotsReply)).availableTimeSlots

    async def get_meeting_time_slots_for_month(self, query: p.SlotQuery) -> list[r.Span]:
        return (
            await self._call("meeting:getMeetingTimeSlotsForMonth", query, r.SlotsReply)
        ).availableTimeSlots

    async def find_meeting_times(self, query: p.FindMeetingTimes) -> r.MeetingTimesReply:
        """Ranked times for a meeting with these attendees (contract 10)."""
        return await self._call("meeting:findMeetingTimes", query, r.MeetingTimesReply)

    async def list_user_meeting_counts(self, query: p.CountsQuery) -> list[r.DayCount]:
        return (await self._call("meeting:listUserMeetingCounts", query, r.CountsReply)).meetingCounts

    # -- calendar feeds (contract 11) ---------------------------------------------------

    async def get_calendar_feed(self) -> str:
        """The caller's secret iCalendar feed URL (the same until reset)."""
        return (await self._call("meeting:getCalendarFeed", p.Empty(), r.FeedUrlReply)).url

    async def reset_calendar_feed(self) -> str:
        """A new feed URL; the old one answers 404 from now on."""
        return (await self._call("meeting:resetCalendarFeed", p.Empty(), r.FeedUrlReply)).url

    async def export_meeting(self, meeting_id: str) -> str:
        """One meeting, series or instance as an RFC 5546 METHOD:REQUEST text."""
        return (await self._call("meeting:exportMeeting", p.MeetingRef(meeting_id), r.IcsReply)).ics

    # -- deprecated API ------------------------------------------------------------------

    async def legacy_create(self, meeting: p.LegacyMeetingIn) -> LegacyMeeting:
        return (await self._call("meeting:create", p.LegacyCreate(meeting), r.LegacyReply)).meeting

    async def legacy_update(self, meeting_id: str, change: p.LegacyMeetingChange) -> LegacyMeeting:
        update = p.LegacyUpdate(meeting_id, change)
        return (await self._call("meeting:update", update, r.LegacyReply)).meeting

    async def legacy_delete(self, meeting_id: str) -> None:
        await self.request("meeting:delete", p.MeetingRef(meeting_id))

    async def legacy_get(self, meeting_id: str) -> LegacyMeeting:
        return (await self._call("meeting:get", p.MeetingRef(meeting_id), r.LegacyReply)).meeting

    async def list_user_meetings_in_date_range(self, query: p.DateRange) -> list[LegacyMeeting]:
        return (await self._call("meeting:listUserMeetingsInDateRange", query, r.LegacyList)).meetings

    async def check_prop_has_meetings_or_social_sessions(self, room_id: str, prop_id: str) -> bool:
        check = p.PropCheck(room_id, prop_id)
        reply = await self._call("meeting:checkPropHasMeetingsOrSocialSessions", check, r.PropCheckReply)
        return reply.hasMeetingsOrSocialSessions

    # -- admin (tokens with role=admin) --------------------------------------------------

    async def upsert_users(self, users: list[p.UserIn]) -> None:
        await self.request("admin:upsertUsers", p.UpsertUsers(users))

    async def upsert_rooms(self, rooms: list[p.RoomIn]) -> None:
        await self.request("admin:upsertRooms", p.UpsertRooms(rooms))

    async def upsert_props(self, props: list[p.PropIn]) -> None:
        await self.request("admin:upsertProps", p.UpsertProps(props))

    async def upsert_groups(self, groups: list[p.GroupIn]) -> None:
        await self.request("admin:upsertGroups", p.UpsertGroups(groups))

    async def upsert_social_sessions(self, sessions: list[p.SessionIn]) -> None:
        await self.request("admin:upsertSocialSessions", p.UpsertSocialSessions(sessions))

    async def delete_room(self, room_id: str) -> None:
        await self.request("admin:deleteRoom", p.RoomRef(room_id))

    async def delete_prop(self, room_id: str, prop_id: str) -> None:
        await self.request("admin:deleteProp", p.PropRef(room_id, prop_id))

    async def delete_group(self, group_id: str) -> None:
        await self.request("admin:deleteGroup", p.GroupRef(group_id))

    async def delete_social_session(self, session_id: str) -> None:
        await self.request("admin:deleteSocialSession", p.SessionRef(session_id))

    async def delete_user(self, user_id: str) -> None:
        await self.request("admin:deleteUser", p.UserRef(user_id))


@asynccontextmanager
async def open_client(
    url: str,
    token: TokenSource,
    *,
    legacy: bool = False,
    since: str | None = None,
    retries: int = 2,
    events: bool = True,
) -> AsyncIterator[MeetingsClient]:
    """Connect (raising if the first attempt fails) and stay connected for the block.
    The block starts once the server has sent connection:ready: from then on, every event
    of a change, whoever makes it, reaches this client (one made before could be part of
    lastEventId, which a connection without `since` is not sent).

    `token` may be a callable, asked again at each reconnection (tokens expire). `since`
    resumes after an event id from an earlier session. A handshake refused with 400, 401
    or 403 after a drop ends the block with that error; anything else is retried with
    jittered exponential backoff. With `events=False` pushes are counted and dropped.
    """
    client = MeetingsClient(url, token, legacy=legacy, since=since, retries=retries, events=events)
    with as_itself():
        async with _running(client) as running:
            yield running


@asynccontextmanager
async def _running(client: MeetingsClient) -> AsyncIterator[MeetingsClient]:
    failed: Exception | None = None
    async with trio.open_nursery() as nursery:
        client._stop = nursery.cancel_scope
        try:
            await nursery.start(client._run)
        except (OSError, HandshakeError, ConnectionClosed) as exc:
            failed = exc  # raised as it is below, not inside the nursery's exception group
        else:
            try:
                yield client
            finally:
                await client._close()
                nursery.cancel_scope.cancel()
    failed = failed or client.failed
    if failed is not None:
        raise failed
