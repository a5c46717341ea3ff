"""A small seeded world for end-to-end stories: users, rooms with props, a group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed

from roomful_meetings.client import Client, connect
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis, open_redis, parse_redis_url
from tests.conftest import ServerHandle, token
from tests.wsraw import RawPeer, open_raw

USERS = ["alice", "bob", "carol", "dave"]


async def seed(server: ServerHandle) -> None:
    async with connect(server.url, token("root", admin=True)) as admin:
        await admin.call(
            "admin:upsertUsers",
            {"users": [{"id": u, "email": f"{u}@example.com", "firstName": u.title()} for u in USERS]},
        )
        await admin.call(
            "admin:upsertRooms",
            {
                "rooms": [
                    {"id": "lobby", "networkId": "net1", "title": "Lobby"},
                    {"id": "hall", "networkId": "net2", "title": "Hall"},
                ]
            },
        )
        await admin.call(
            "admin:upsertProps",
            {
                "props": [
                    {"roomId": "lobby", "id": "table", "title": "Table"},
                    {"roomId": "lobby", "id": "stage", "title": "Stage"},
                ]
            },
        )
        await admin.call(
            "admin:upsertGroups",
            {"groups": [{"id": "team", "networkId": "net1", "memberIds": ["alice", "bob"]}]},
        )


def meeting(
    start: str | int = "2030-03-04T10:00:00Z",
    end: str | int = "2030-03-04T11:00:00Z",
    source: tuple[str, list[str]] = ("room", ["lobby"]),
    invited: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "sourceType": source[0],
        "sourceIds": source[1],
        "subject": extra.pop("subject", "Planning"),
        "startDate": start,
        "endDate": end,
        "invitedUserIds": ["bob"] if invited is None else invited,
        **extra,
    }


async def ready(client: Client) -> Client:
    await client.next_push("connection:ready")
    return client


@asynccontextmanager
async def redis_of(server: ServerHandle) -> AsyncIterator[Redis]:
    """The server's Redis, connected: for tests that look into it or disturb it."""
    async with open_redis(parse_redis_url(server.settings.redis_url)) as redis:
        await redis.wait_connected()
        yield redis


@asynccontextmanager
async def alice_and_bob(
    server: ServerHandle, **bob_query: str
) -> AsyncIterator[tuple[Redis, Client, Client]]:
    """The seeded world, its Redis, and alice and bob connected and ready (bob with the
    query `bob_query`, such as legacy="1")."""
    await seed(server)
    async with (
        redis_of(server) as redis,
        connect(server.url, token("alice")) as alice,
        connect(server.url, token("bob"), None, **bob_query) as bob,
    ):
        await ready(alice)
        await ready(bob)
        yield redis, alice, bob


def close_code(closed: ConnectionClosed) -> int | None:
    """The close code a server sent, None when the connection ended without a close frame."""
    return closed.reason.code if closed.reason is not None else None


async def assert_no_other_push(client: Client, *same_user: Client) -> None:
    """Absence, checked against a positive marker rather than a clock: the client makes an
    event for its user alone (a meeting it organizes, nobody invited), which reaches it and
    the other connections of its user (`same_user`). A user's events reach each of its
    connections in the order they were published, so a push that should not have come
    would arrive before the marker."""
    marker = (await client.call("meeting:createMeeting", meeting(subject="marker", invited=[])))["meeting"]
    for connection in (client, *same_user):
        while (push := await connection.next_push()).endpoint == "connection:ready":
            continue
        assert push.endpoint == "meeting:onMeetingCreated", push
        assert push.data["meeting"]["meetingId"] == marker["meetingId"], push


async def wait_events_subscribed(redis: Redis, prefix: str, instances: int = 1) -> None:
    """Until `instances` server instances listen on the events channel again (after a
    CLIENT KILL of their pub/sub links): readiness seen in Redis, not guessed from a clock."""
    channel = Keys(prefix).events_channel()
    with trio.fail_after(10):
        while (await redis.execute("PUBSUB", "NUMSUB", channel))[1] != instances:  # noqa: ASYNC110 (state in Redis)
            await trio.sleep(0.01)


def hold_first_call(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str
) -> tuple[trio.Event, trio.Event]:
    """Make the first call of `module.name` (a coroutine function the server awaits between
    a read and its write) wait, once done, until the second event is set (5 s at most):
    the first event says it is waiting. Widens a window that two instances or a slow
    Redis link open anyway, so that a race happens every time."""
    real = getattr(module, name)
    done, release = trio.Event(), trio.Event()

    async def held(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        if not done.is_set():
            done.set()
            with trio.move_on_after(5):
                await release.wait()
        return result

    monkeypatch.setattr(module, name, held)
    return done, release


async def raw_peer(server: ServerHandle, user: str) -> RawPeer:
    """A raw websocket of `user`, once connection:ready came: for peers that misbehave."""
    stream, status, received = await open_raw(f"{server.url}/?token={token(user)}")
    assert status == 101
    peer = RawPeer(stream, received)
    assert (await peer.next_frame())[0] == 0x1  # connection:ready, a text frame
    return peer
