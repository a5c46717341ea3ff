"""Hostile input over a real websocket (issue 13): each is a 400 on the open connection and
changes nothing stored."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from trio_websocket import WebSocketConnection

from roomful_meetings.storage.redis import Redis
from tests.conftest import ServerHandle, token
from tests.e2e.world import redis_of, seed
from tests.wsraw import open_ws

REQUEST_IDS = itertools.count()


async def ask(ws: WebSocketConnection, frame: str) -> dict[str, Any]:
    await ws.send_message(frame)
    reply: dict[str, Any] = json.loads(await ws.get_message())
    return reply


async def snapshot(redis: Redis, prefix: str) -> dict[bytes, bytes]:
    keys = sorted(await redis.scan(prefix + "*"))
    dumps = await redis.pipeline([("DUMP", key) for key in keys])
    return dict(zip(keys, dumps, strict=True))


@asynccontextmanager
async def admin_in_seeded_world(
    server: ServerHandle,
) -> AsyncIterator[tuple[WebSocketConnection, Callable[[], Awaitable[None]]]]:
    """An admin connection to the seeded world, and a check that nothing stored changed."""
    await seed(server)
    headers = [(b"authorization", f"Bearer {token('root', admin=True)}".encode())]
    async with redis_of(server) as redis, open_ws(server.url, headers) as ws:
        await ws.get_message()  # connection:ready: the profile upsert of the connect is done
        before = await snapshot(redis, server.settings.key_prefix)

        async def unchanged() -> None:
            assert await snapshot(redis, server.settings.key_prefix) == before

        yield ws, unchanged


def request(endpoint: str, data: dict[str, Any]) -> str:
    return json.dumps({"endpoint": endpoint, "data": data, "event": {"id": f"h-{next(REQUEST_IDS)}"}})


WHEN = {"startDate": "2030-03-04T10:00:00Z", "endDate": "2030-03-04T11:00:00Z"}
HOSTILE = [
    # Ids ending in (or holding) a newline or a NUL: the `$` anchor let the first through.
    (request("admin:upsertRooms", {"rooms": [{"id": "r\n"}]}), "data.rooms[0].id"),
    (request("admin:upsertRooms", {"rooms": [{"id": "r\x00x"}]}), "data.rooms[0].id"),
    (request("admin:upsertProps", {"props": [{"roomId": "lobby", "id": "p\n"}]}), "data.props[0].id"),
    (request("admin:upsertGroups", {"groups": [{"id": "g", "memberIds": ["alice\n"]}]}), "memberIds[0]"),
    (request("admin:upsertUsers", {"users": [{"id": "u\n"}]}), "data.users[0].id"),
    (
        request("admin:upsertSocialSessions", {"sessions": [{"id": "s\n", "roomId": "lobby"}]}),
        "sessions[0].id",
    ),
    (request("admin:deleteRoom", {"roomId": "lobby\n"}), "data.roomId"),
    (
        request(
            "meeting:create", {"meeting": {**WHEN, "subject": "s", "roomId": "lobby", "propId": "table\n"}}
        ),
        "propId",
    ),
    # Fixed offsets out of a day, or with a newline, are no time zones.
    (request("admin:upsertUsers", {"users": [{"id": "alice", "timeZone": "+99:99"}]}), "timeZone"),
    (request("admin:upsertUsers", {"users": [{"id": "alice", "timeZone": "+05:00\n"}]}), "timeZone"),
    # An email is written into colleagues' calendar lines: a line break there adds lines.
    (
        request("admin:upsertUsers", {"users": [{"id": "alice", "email": "a@x.test\r\nEND:VEVENT"}]}),
        "users[0].email",
    ),
    (
        request("admin:upsertUsers", {"users": [{"id": "bob"}, {"id": "alice", "email": "A <a@x.test>"}]}),
        "users[1].email",
    ),
    # A lone surrogate escape is not JSON text.
    ('{"endpoint":"meeting:getMeeting","data":{"meetingId":"m"},"event":{"id":"\\ud800"}}', "not valid JSON"),
]


@pytest.mark.parametrize(("frame", "needle"), HOSTILE)
async def test_hostile_requests_are_a_400_and_change_nothing(
    server: ServerHandle, frame: str, needle: str
) -> None:
    async with admin_in_seeded_world(server) as (ws, unchanged):
        reply = await ask(ws, frame)
        assert reply["error"]["code"] == 400, reply
        assert needle in reply["error"]["message"], reply
        await unchanged()
        again = await ask(ws, request("meeting:getMeeting", {"meetingId": "m"}))
        assert again["error"]["code"] == 404  # still serving


async def test_a_changing_request_with_an_event_id_too_long_for_a_retry_key_is_a_400(
    server: ServerHandle,
) -> None:
    async with admin_in_seeded_world(server) as (ws, unchanged):
        for event_id in ["x" * 257, 2**63, "x" * 900_000]:
            frame = json.dumps(
                {"endpoint": "admin:upsertRooms", "data": {"rooms": [{"id": "r"}]}, "event": {"id": event_id}}
            )
            reply = await ask(ws, frame)
            assert reply["error"]["code"] == 400 and "`event.id`" in reply["error"]["message"], reply["error"]
        await unchanged()
        frame = json.dumps(
            {"endpoint": "admin:upsertRooms", "data": {"rooms": [{"id": "r"}]}, "event": {"id": "x" * 256}}
        )
        assert (await ask(ws, frame))["error"]["code"] == 0


@pytest.mark.parametrize(
    "frame",
    [
        json.dumps({"endpoint": "e" * 900_000, "data": {}}),
        json.dumps({"endpoint": "meeting:getMeeting", "data": {"meetingId": "m", "k" * 900_000: 1}}),
    ],
    ids=["endpoint", "unknown-field"],
)
async def test_an_error_never_quotes_more_than_a_client_can_read(server: ServerHandle, frame: str) -> None:
    headers = [(b"authorization", f"Bearer {token('alice')}".encode())]
    # trio-websocket's client, like the server, refuses messages above 1 MiB (close 1009).
    async with open_ws(server.url, headers, max_message_size=2**20) as ws:
        await ws.get_message()
        reply = await ask(ws, frame)
        assert reply["error"]["code"] in (400, 404)
        assert len(reply["error"]["message"]) < 400
