"""The typed client: one method per endpoint, typed events, reconnection with since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from roomful_meetings.client import MeetingsClient, open_client
from roomful_meetings.errors import Forbidden
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.events import MeetingDeletedEvent, MeetingEvent, Ready
from roomful_meetings.protocol.models import Meeting
from roomful_meetings.storage.embedded import free_port
from tests.conftest import StartServer, token

MARCH_4 = datetime(2030, 3, 4, 10, tzinfo=UTC)
MARCH_4_END = datetime(2030, 3, 4, 11, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def seed(url: str) -> None:
    async with open_client(url, token("root", admin=True)) as admin:
        await admin.upsert_users([p.UserIn("alice", firstName="Alice"), p.UserIn("bob"), p.UserIn("carol")])
        await admin.upsert_rooms([p.RoomIn("lobby", networkId="net1", title="Lobby")])
        await admin.upsert_props([p.PropIn("lobby", "table", title="Table")])


async def next_meeting_change(client: MeetingsClient) -> Meeting:
    """The meeting of the next created or updated event."""
    name, data = await next_meeting_event(client)
    assert isinstance(data, MeetingEvent), (name, data)
    return data.meeting


async def next_meeting_event(client: MeetingsClient) -> tuple[str, object]:
    async for event in client.events():
        if event.name.startswith("meeting:"):
            return event.name, event.data
    raise AssertionError("the event stream ended")


async def test_a_planning_story_through_the_typed_client(start_server: StartServer) -> None:
    server = await start_server()
    await seed(server.url)
    async with (
        open_client(server.url, token("alice"), events=False) as alice,
        open_client(server.url, token("bob")) as bob,
    ):
        ready = await bob.events().receive()
        assert ready.name == "connection:ready" and isinstance(ready.data, Ready)
        created = await alice.create_meeting(
            p.CreateMeeting("room", ["lobby"], "Planning", MARCH_4, MARCH_4_END, invitedUserIds=["bob"])
        )
        assert isinstance(created, Meeting) and created.participantIds == ["alice", "bob"]
        name, data = await next_meeting_event(bob)
        assert name == "meeting:onMeetingCreated" and isinstance(data, MeetingEvent)
        assert data.meeting.meetingId == created.meetingId
        await bob.accept_meeting_request(created.meetingId)
        statuses = {x.userId: x.status for x in (await alice.get_meeting(created.meetingId)).participants}
        assert statuses == {"alice": "accepted", "bob": "accepted"}
        listed = await bob.list_user_meetings(p.ListUserMeetings(MARCH_4, MARCH_4_END))
        assert [m.meetingId for m in listed.meetings] == [created.meetingId] and not listed.hasMore
        legacy = await bob.legacy_get(created.meetingId)
        assert legacy.room.id == "lobby"
        assert await bob.check_prop_has_meetings_or_social_sessions("lobby", "table") is False
        slots = await alice.get_time_slots_for_meeting(
            p.SlotQuery([p.SlotUser(roomful="bob")], localDate=MARCH_4, timeZone="UTC")
        )
        assert [(s.startDate, s.endDate) for s in slots] == [
            ("2030-03-04T00:00:00+00:00", "2030-03-04T10:00:00+00:00"),
            ("2030-03-04T11:00:00+00:00", "2030-03-05T00:00:00+00:00"),
        ]
        try:
            await bob.delete_meeting(created.meetingId)
        except Forbidden:
            pass
        else:
            raise AssertionError("only the organizer may delete")
        await alice.delete_meeting(created.meetingId)
        name, data = await next_meeting_event(bob)
        assert name == "meeting:onMeetingUpdated"  # his own acceptance
        assert isinstance(data, MeetingEvent) and data.meeting.participants[1].status == "accepted"
        assert await next_meeting_event(bob) == (
            "meeting:onMeetingDeleted",
            MeetingDeletedEvent(created.meetingId),
        )


async def test_a_meeting_made_as_soon_as_the_client_is_open_reaches_it(start_server: StartServer) -> None:
    """The block of open_client starts once the server has said connection:ready, so a
    change made at once is after its lastEventId and is delivered. (It started after the
    handshake: a change could then come before the server read lastEventId, be counted in
    it, and never be sent to this client without `since`.)"""
    server = await start_server()
    await seed(server.url)
    async with open_client(server.url, token("alice"), events=False) as alice:
        for n in range(3):
            async with open_client(server.url, token("bob")) as bob:
                assert bob.events().receive_nowait().name == "connection:ready"  # here already
                begin = MARCH_4 + timedelta(days=n)
                created = await alice.create_meeting(
                    p.CreateMeeting("room", ["lobby"], f"m{n}", begin, begin + HOUR, invitedUserIds=["bob"])
                )
                with trio.fail_after(5):
                    assert (await next_meeting_change(bob)).meetingId == created.meetingId


async def test_a_first_connection_closed_before_it_is_ready_raises_rather_than_hangs() -> None:
    """The server may close a connection before connection:ready (1013 when Redis cannot
    be read for its start): the first attempt then fails, as a refused handshake does."""

    async def close_at_once(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(1013, "storage unavailable; reconnect with since")

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(serve_websocket, close_at_once, "127.0.0.1", 0, ssl_context=None)
        )
        url = f"ws://127.0.0.1:{server.port}"
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            async with open_client(url, token("bob")):
                raise AssertionError("the block ran without connection:ready")
        assert closed.value.reason is not None and closed.value.reason.code == 1013
        nursery.cancel_scope.cancel()


async def test_the_client_reconnects_with_since_and_misses_no_event(start_server: StartServer) -> None:
    port = free_port()
    first = await start_server(port=port)
    other = await start_server()
    await seed(other.url)
    async with (
        open_client(first.url, token("bob")) as bob,
        open_client(other.url, token("alice")) as alice,
    ):
        before = await alice.create_meeting(
            p.CreateMeeting("room", ["lobby"], "Before", MARCH_4, MARCH_4_END, invitedUserIds=["bob"])
        )
        assert (await next_meeting_change(bob)).meetingId == before.meetingId
        first.stop.set()  # bob's instance goes away (closes with 1001)
        with trio.fail_after(10):
            await bob.wait_disconnected()
        assert not bob.connected
        during = await alice.create_meeting(
            p.CreateMeeting("room", ["lobby"], "During", MARCH_4, MARCH_4_END, invitedUserIds=["bob"])
        )
        await start_server(port=port)  # back on the same address
        # a request made while disconnected waits for the connection, then goes through
        with trio.fail_after(20):
            fetched = await bob.get_meeting(during.meetingId)
        assert fetched.subject == "During" and bob.reconnects >= 1
        after = await alice.create_meeting(
            p.CreateMeeting("room", ["lobby"], "After", MARCH_4, MARCH_4_END, invitedUserIds=["bob"])
        )
        seen = [(await next_meeting_change(bob)).subject for _ in range(2)]
        assert seen == ["During", "After"]  # replayed once, in order, then live
        assert after.meetingId != during.meetingId
