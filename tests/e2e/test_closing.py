"""Closing as the contract says: a slow reader cut off with 4008 sees an unbroken run of
events before the close (a reconnect with since= then misses nothing), and a connection
turned away with 1013 (events cannot reach the instance) is closed and frees its slot."""

from __future__ import annotations

import itertools
import json
import socket

import pytest
import trio

from roomful_meetings.fanout import hub as hub_module
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.keys import Keys
from tests.conftest import StartServer, token
from tests.e2e.world import raw_peer, redis_of
from tests.wsraw import RawPeer, client_frame, open_raw, split_frames

TEXT, CLOSE = 0x1, 0x8


# One script publishes many events at once, so that the instance reads several of them
# from Redis in one read (what the hub batches: fanout/hub.py, transport/wire.py write_held).
PUBLISH_MANY = "for i = 1, #ARGV do redis.call('PUBLISH', KEYS[1], ARGV[i]) end return #ARGV"


def published_event(seq: int, recipient: str) -> str:
    """A message as lua/includes/events.lua publishes it: id, recipients, frame."""
    event_id = f"1000-{seq}"
    frame = json.dumps(
        {
            "endpoint": "meeting:onMeetingCreated",
            "event": {"id": event_id, "date": "2030-01-01T00:00:00Z"},
            "data": {"pad": "x" * 200},
        }
    )
    return f"{event_id}\n{json.dumps([recipient])}\n{frame}"


async def test_a_slow_reader_cut_off_with_4008_gets_no_event_after_the_ones_it_lost(
    start_server: StartServer,
) -> None:
    """Contract 6: a client reconnecting with `since=<last id it saw>` gets every event
    after it, without gaps. When a push finds the send queue full, the session closes with
    4008 and discards the queued events (Session.close -> WireStream.discard), but it keeps
    accepting live events until its close frame is under way (`_closing` is set only once
    the nursery has unwound): the next events of the same read from Redis (or of the next
    reads) are queued after the discard and reach the client before the 4008. Its last id
    seen is then past the events it lost, and a reconnect with since= skips them for good."""
    server = await start_server(send_queue_frames=8)
    bob = await raw_peer(server, "bob")
    bob.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # bob reads nothing yet
    channel = Keys(server.settings.key_prefix).events_channel()
    count = 20_000
    async with redis_of(server) as redis:
        await redis.execute(
            "EVAL", PUBLISH_MANY, 1, channel, *(published_event(i, "bob") for i in range(count))
        )
    data = bob._buffer
    with trio.move_on_after(3):  # now bob reads all he was sent, up to the server's close
        while chunk := await bob.stream.receive_some(65536):
            data += chunk
    await bob.stream.aclose()
    frames, _ = split_frames(data)
    assert frames and frames[-1][0] == CLOSE and int.from_bytes(frames[-1][1][:2], "big") == 4008
    seen = [
        int(json.loads(payload)["event"]["id"].split("-")[1]) for opcode, payload in frames if opcode == TEXT
    ]
    assert len(seen) < count  # cut off, as he should be
    gaps = [(before, after) for before, after in itertools.pairwise(seen) if after != before + 1]
    assert not gaps, (
        f"bob saw events up to {seen[-1]} before the 4008 but never {gaps}: "
        "a reconnect with since= skips them"
    )


async def test_a_connection_refused_because_events_cannot_reach_the_instance_is_closed_and_its_slot_freed(
    start_server: StartServer, own_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the pub/sub link to Redis is down (here: Redis is at maxclients, so the
    subscriber cannot reconnect, while the command link still works), a new connection is
    accepted, then closed with 1013 (docs/protocol.md: reconnect later). But the server
    (transport/server.py `_admitted`, `ws.aclose` after `hub.join` raised NotListening)
    waits for the client's close answer through trio-websocket's reader, which no longer
    reads the socket once the session took the reads (WireStream.take_reads) and no session
    runs: the handler never ends. The TCP connection is never closed and its connection
    slot never released: after --max-connections-per-user such attempts the user gets 429
    from this instance for good, and a drain waits its whole deadline."""
    monkeypatch.setattr(hub_module, "JOIN_WAIT", 0.3)  # the wait for a subscription, shortened
    server = await start_server(redis_url=own_redis.url, max_connections_per_user=1)
    bob = await raw_peer(server, "bob")  # the instance subscribes to the events channel
    async with redis_of(server) as redis:
        connected = len((await redis.execute("CLIENT", "LIST")).splitlines())
        await redis.execute("CONFIG", "SET", "maxclients", str(connected - 1))
        try:
            assert await redis.execute("CLIENT", "KILL", "TYPE", "pubsub") == 1  # the link goes down
            stream, status, received = await open_raw(f"{server.url}/?token={token('alice')}")
            assert status == 101
            alice = RawPeer(stream, received)
            opcode, payload = await alice.next_frame()
            assert opcode == CLOSE and int.from_bytes(payload[:2], "big") == 1013
            await stream.send_all(client_frame(CLOSE, payload[:2]))  # alice answers the close
            ended = None
            with trio.move_on_after(2.5):
                ended = await alice.next_frame()
            await stream.aclose()
        finally:
            await redis.execute("CONFIG", "SET", "maxclients", "10000")
    await bob.stream.aclose()
    assert ended == (0, b""), "the server never closed the TCP connection after the close handshake"
    stream, status, _ = await open_raw(f"{server.url}/?token={token('alice')}")
    await stream.aclose()
    assert status != 429, "alice's connection slot is still held by the connection that was closed"
