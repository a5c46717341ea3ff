"""The Python client at its edges: the deprecated API's rooms with a thumbnail (a part kept
as it came), backoff after connections a server closes at once (a peer scripted to do so,
as a server whose storage is down does: 1013), an API error leaving the block as itself,
and instance ids of pendulum datetimes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import msgspec
import pendulum
import pytest
import trio
from trio_websocket import WebSocketRequest, serve_websocket

from roomful_meetings.client import MeetingsClient, connect, open_client
from roomful_meetings.errors import NotFound
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.events import LegacyMeetingEvent
from tests.conftest import StartServer, token

MARCH_4 = datetime(2030, 3, 4, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
THUMBNAIL = {"id": "img-1", "title": "Lobby photo", "thumbnail": "https://cdn.example/lobby.png"}


async def seed_room_with_thumbnail(url: str) -> None:
    async with connect(url, token("root", admin=True)) as admin:
        await admin.call("admin:upsertUsers", {"users": [{"id": "alice"}, {"id": "bob"}]})
        await admin.call(
            "admin:upsertRooms",
            {"rooms": [{"id": "lobby", "networkId": "n1", "title": "Lobby", "thumbnail": THUMBNAIL}]},
        )


async def test_the_typed_legacy_methods_read_a_room_that_has_a_thumbnail(start_server: StartServer) -> None:
    """meeting-api.txt, meeting:create / get: room.thumbnail is a { resource structure }; the
    typed LegacyRoom declares it msgspec.Raw | None, which msgspec.convert cannot fill from
    an object: every legacy method fails with ValidationError for such a room."""
    server = await start_server()
    await seed_room_with_thumbnail(server.url)
    async with open_client(server.url, token("alice"), events=False) as alice:
        made = await alice.legacy_create(p.LegacyMeetingIn(MARCH_4, MARCH_4 + HOUR, "Old client", "lobby"))
        assert msgspec.json.decode(bytes(made.room.thumbnail))["id"] == "img-1"
        assert (await alice.legacy_get(made.id)).room.id == "lobby"
        listed = await alice.list_user_meetings_in_date_range(p.DateRange(MARCH_4, MARCH_4 + HOUR))
        assert [m.id for m in listed] == [made.id]


async def test_a_legacy_client_survives_an_event_about_a_room_that_has_a_thumbnail(
    start_server: StartServer,
) -> None:
    """open_client(legacy=True) converts meeting:meetingUpdated into LegacyMeetingEvent in its
    connection task; the ValidationError escapes that task and tears down the whole block
    (the application's code is cancelled), instead of delivering the event."""
    server = await start_server()
    await seed_room_with_thumbnail(server.url)
    async with open_client(server.url, token("bob"), legacy=True) as bob:
        async with connect(server.url, token("alice")) as alice:
            await alice.call(
                "meeting:createMeeting",
                {
                    "sourceType": "room",
                    "sourceIds": ["lobby"],
                    "subject": "Hi",
                    "startDate": "2030-03-04T10:00:00Z",
                    "endDate": "2030-03-04T11:00:00Z",
                    "invitedUserIds": ["bob"],
                },
            )
        with trio.fail_after(5):
            async for event in bob.events():
                if event.name == "meeting:meetingUpdated":
                    assert isinstance(event.data, LegacyMeetingEvent)
                    break


def push(endpoint: str, event_id: str, data: dict[str, Any]) -> str:
    error = {"status": False, "code": 0, "message": ""}
    frame = {"endpoint": endpoint, "event": {"id": event_id, "date": "2030-01-01T00:00:00Z"}, "data": data}
    return msgspec.json.encode(frame | {"error": error}).decode()


async def test_reconnection_backs_off_when_each_new_connection_is_closed_at_once() -> None:
    """open_client: "anything else is retried with jittered exponential backoff". A server
    whose Redis is down accepts the websocket and closes it with 1013 (docs/protocol.md):
    _run resets the delay to 0.1 s after every connection that opened, so the client
    reconnects about 13 times a second for as long as the outage lasts. With delays
    doubling from 0.1 s (drawn in [d/2, d]) 3 s hold at most about 6 attempts."""
    attempts: list[float] = []

    async def handler(request: WebSocketRequest) -> None:
        attempts.append(trio.current_time())
        ws = await request.accept()
        if len(attempts) == 1:
            await ws.send_message(push("connection:ready", "1000-0", {"lastEventId": "1000-0"}))
            await trio.sleep(0.1)
        await ws.aclose(1013, "storage unavailable; reconnect with since")

    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, handler, "127.0.0.1", 0, ssl_context=None))
        async with open_client(f"ws://127.0.0.1:{server.port}", token("bob"), events=False):
            await trio.sleep(3)
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(attempts)]
    assert len(attempts) <= 8, f"{len(attempts)} connections in 3 s, gaps {gaps}"


async def test_an_api_error_that_leaves_the_open_client_block_is_raised_as_itself(server: Any) -> None:
    """raw.py / typed.py: call "raises the ApiError for its code". Left uncaught inside
    `async with open_client(...)` (or `connect(...)`) it comes out wrapped in an
    ExceptionGroup of the client's nursery, so `except NotFound:` around the block misses
    it (the first attempt's errors are unwrapped on purpose; CHANGELOG)."""
    with pytest.raises(NotFound):
        async with open_client(server.url, token("alice"), events=False) as alice:
            await alice.get_meeting("no-such-meeting")
    with pytest.raises(NotFound):
        async with connect(server.url, token("alice")) as raw:
            await raw.call("meeting:getMeeting", {"meetingId": "no-such-meeting"})


def test_instance_id_takes_a_pendulum_datetime() -> None:
    """MeetingsClient.instance_id(series_id, original_start: datetime): a pendulum DateTime
    (a datetime, and what the project parses with) raises AttributeError in to_minute."""
    start = pendulum.datetime(2031, 1, 6, 9, tz="Europe/London")
    assert MeetingsClient.instance_id("s1", start) == "s1_20310106T0900Z"
