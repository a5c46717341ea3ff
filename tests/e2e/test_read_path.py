"""The server's own read path, over a real socket: what the session does with each kind of
frame (the rules themselves are tested sans-IO in tests/protocol/test_frames.py)."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from roomful_meetings.fanout.hub import Hub
from tests.conftest import ServerHandle, StartServer, token
from tests.protocol.test_frames import frame
from tests.wsraw import RawPeer, open_raw

TEXT, CLOSE, PING, PONG = 1, 8, 9, 10
GET = b'{"endpoint":"meeting:getMeeting","data":{"meetingId":"m"},"event":{"id":"%d"}}'


async def open_peer(server: ServerHandle) -> RawPeer:
    stream, status, received = await open_raw(
        server.url, [(b"authorization", f"Bearer {token('alice')}".encode())]
    )
    assert status == 101
    return RawPeer(stream, received)


@pytest.fixture
async def peer(server: ServerHandle) -> AsyncIterator[RawPeer]:
    opened = await open_peer(server)
    async with opened.stream:
        assert (await opened.next_frame())[0] == TEXT  # connection:ready
        yield opened


def event_id(payload: bytes) -> str:
    return str(json.loads(payload)["event"]["id"])


async def closed_with(peer: RawPeer) -> int:
    opcode, payload = await peer.next_frame_not(TEXT, PING)
    assert opcode == CLOSE
    return int.from_bytes(payload[:2], "big")


async def test_a_request_sent_right_after_the_101_is_answered(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the server finishes accepting (joining the hub), the request is already there:
    it must reach the session, not trio-websocket's reader (which read the handshake)."""
    sent = trio.Event()
    join = Hub.join

    async def join_once_the_request_is_in(hub: Hub, receiver: object) -> None:
        await sent.wait()
        await trio.testing.wait_all_tasks_blocked()  # every reader has read what came
        await join(hub, receiver)  # type: ignore[arg-type]

    monkeypatch.setattr(Hub, "join", join_once_the_request_is_in)
    peer = await open_peer(server)
    async with peer.stream:
        await peer.stream.send_all(frame(TEXT, GET % 1))
        sent.set()
        assert (await peer.next_frame())[0] == TEXT  # connection:ready
        opcode, payload = await peer.next_frame()
        assert opcode == TEXT and event_id(payload) == "1"


async def test_a_ping_is_answered_with_its_payload(peer: RawPeer) -> None:
    await peer.stream.send_all(frame(PING, b"are you there"))
    assert await peer.next_frame() == (PONG, b"are you there")


async def test_a_request_in_fragments_with_a_ping_between_is_answered(peer: RawPeer) -> None:
    request = GET % 7
    await peer.stream.send_all(
        frame(TEXT, request[:10], fin=False) + frame(PING, b"p") + frame(0, request[10:30], fin=False)
    )
    await peer.stream.send_all(frame(0, request[30:]))
    assert await peer.next_frame() == (PONG, b"p")
    opcode, payload = await peer.next_frame()
    assert opcode == TEXT and event_id(payload) == "7"


async def test_requests_in_one_read_are_all_answered(peer: RawPeer) -> None:
    await peer.stream.send_all(b"".join(frame(TEXT, GET % i) for i in range(20)))
    ids = {event_id((await peer.next_frame())[1]) for _ in range(20)}
    assert ids == {str(i) for i in range(20)}


async def test_the_peers_close_is_answered_with_its_code(peer: RawPeer) -> None:
    await peer.stream.send_all(frame(CLOSE, struct.pack("!H", 4321) + b"bye"))
    assert await peer.next_frame() == (CLOSE, struct.pack("!H", 4321) + b"bye")
    assert await peer.stream.receive_some(10) == b""  # then the server closes the TCP connection


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(TEXT, b"\xff\xfe"), 1007),  # not UTF-8
        (frame(TEXT, b"{}", rsv=4), 1002),  # a reserved bit
        (frame(TEXT, b"{}", masked=False), 1002),
        (frame(0, b"{}"), 1002),  # a continuation of nothing
        (frame(CLOSE, b"\x03"), 1002),  # a 1-byte close payload
        (frame(CLOSE, struct.pack("!H", 1005)), 1002),  # a code no peer may send
    ],
    # Named: the frames carry random masks, and ids must be the same in every collection.
    ids=["not-utf8", "reserved-bit", "unmasked", "lone-continuation", "short-close", "close-1005"],
)
async def test_a_protocol_violation_closes_with_its_code_and_drops_the_connection(
    peer: RawPeer, data: bytes, code: int
) -> None:
    await peer.stream.send_all(frame(TEXT, GET % 1) + data)
    opcode, payload = await peer.next_frame()
    assert opcode == TEXT and event_id(payload) == "1"  # what came before is answered
    assert await closed_with(peer) == code
    assert await peer.stream.receive_some(10) == b""  # dropped, not waiting for an answer


async def test_a_message_over_the_limit_is_refused_on_its_header(start_server: StartServer) -> None:
    server = await start_server(max_frame_bytes=4096)
    peer = await open_peer(server)
    async with peer.stream:
        assert (await peer.next_frame())[0] == TEXT
        # Only the header of a 5000-byte frame: refused before its payload arrives.
        await peer.stream.send_all(frame(TEXT, b"x" * 5000)[:8])
        assert await closed_with(peer) == 1009


async def test_a_server_close_waits_for_the_peers_answer(peer: RawPeer) -> None:
    await peer.stream.send_all(frame(2, b"binary"))
    assert await closed_with(peer) == 1003
    # The server waits for the answer (trio-websocket's close handshake), reading on.
    await peer.stream.send_all(frame(TEXT, GET % 2) + frame(CLOSE, struct.pack("!H", 1000)))
    assert await peer.stream.receive_some(10) == b""
