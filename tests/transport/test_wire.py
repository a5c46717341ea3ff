"""A connection's outgoing bytes: straight to the socket while it keeps up, queued in
order (and bounded) when it does not. Over real loopback TCP with small socket buffers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from roomful_meetings.transport.wire import WRITEV_CHUNKS, WireStream


@asynccontextmanager
async def wire_pair(
    limit: int = 10_000, byte_limit: int = 16 << 20
) -> AsyncIterator[tuple[WireStream, trio.SocketStream]]:
    """A WireStream on the server end of a TCP connection, and the client end."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        client = await trio.open_tcp_stream("127.0.0.1", port)
        server = await listeners[0].accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        wire = WireStream(server, nursery, limit, byte_limit)
        try:
            yield wire, client
        finally:
            await wire.aclose()
            await client.aclose()
            await listeners[0].aclose()


async def read_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.receive_some(65536)
        assert chunk, "connection closed early"
        data += chunk
    return bytes(data)


def chunks(count: int, size: int) -> list[bytes]:
    return [bytes([65 + i % 26]) * size for i in range(count)]


async def fill(wire: WireStream, size: int = 20_000, queued: int = 3) -> list[bytes]:
    """Write until the kernel's buffers are full and `queued` chunks wait in the queue,
    with the flusher given time to move what it can; returns what was written."""
    written = []
    for part in chunks(1000, size):
        assert wire.write_nowait(part)
        written.append(part)
        if wire.queued >= queued:
            await trio.sleep(0.05)
            if wire.queued >= queued:
                return written
    raise AssertionError("the socket never filled up")


async def test_bytes_go_out_at_once_while_the_socket_keeps_up() -> None:
    async with wire_pair() as (wire, client):
        assert wire.write_nowait(b"hello")
        assert wire.queued == 0  # written during the call: nothing waits for a task
        assert await read_exactly(client, 5) == b"hello"


async def test_what_the_socket_cannot_take_goes_out_later_in_order() -> None:
    async with wire_pair() as (wire, client), trio.open_nursery() as nursery:
        written = await fill(wire)
        nursery.start_soon(wire.send_all, b"CONTROL")  # a pong from trio-websocket, say
        await trio.sleep(0.05)
        assert wire.write_nowait(b"LAST")
        expected = b"".join(written) + b"CONTROL" + b"LAST"
        assert await read_exactly(client, len(expected)) == expected
        await wire.drained()
        assert wire.queued == 0


async def nothing_arrives(client: trio.SocketStream) -> bool:
    with trio.move_on_after(0.1):
        await client.receive_some(65536)
        return False
    return True


async def test_held_events_wait_for_the_end_of_their_batch_and_keep_their_order() -> None:
    async with wire_pair() as (wire, client):
        assert wire.write_held(b"one ") and wire.write_held(b"two ")
        assert await nothing_arrives(client)
        assert wire.write_nowait(b"three")  # a response meanwhile goes behind them
        assert await nothing_arrives(client)
        wire.send_held()
        assert wire.queued == 0
        assert await read_exactly(client, 13) == b"one two three"


async def test_a_long_batch_is_written_as_it_grows_and_never_looks_too_slow() -> None:
    async with wire_pair(limit=3) as (wire, client):
        parts = chunks(WRITEV_CHUNKS + 10, 10)
        assert all(wire.write_held(part) for part in parts)  # past the 3 frames the queue allows
        assert wire.queued < 3
        wire.send_held()
        assert await read_exactly(client, 10 * len(parts)) == b"".join(parts)
    async with wire_pair() as (wire, client):
        parts = chunks(WRITEV_CHUNKS, 10)
        for part in parts:
            wire.write_held(part)
        assert wire.queued == 0  # one system call's worth went without send_held
        assert await read_exactly(client, 10 * len(parts)) == b"".join(parts)


async def test_held_events_of_a_slow_reader_follow_the_queue() -> None:
    async with wire_pair(limit=4) as (wire, client):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # a fixed size: full stays full
        written = await fill(wire)
        assert wire.write_held(b"held")
        wire.send_held()  # the flusher is waiting for the socket: it writes them in turn
        assert not wire.write_held(b"too many")  # past the limit: the caller closes it
        expected = b"".join(written) + b"held"
        assert await read_exactly(client, len(expected)) == expected


async def test_a_full_queue_refuses_events_and_makes_responses_wait() -> None:
    async with wire_pair(limit=3) as (wire, client):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # a fixed size: full stays full
        written = await fill(wire)
        assert not wire.write_nowait(b"event")  # the caller closes the connection as too slow
        with trio.move_on_after(0.2) as waited:
            await wire.write(b"response")
        assert waited.cancelled_caught
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wire.write, b"response")
            expected = b"".join(written) + b"response"
            assert await read_exactly(client, len(expected)) == expected


async def test_a_queue_past_its_bytes_refuses_events_and_makes_responses_and_reads_wait() -> None:
    async with wire_pair(byte_limit=20_000) as (wire, client):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that reads nothing
        written = []
        for part in chunks(1000, 8_000):  # until the kernel's buffers and 20 kB are full
            if not wire.write_nowait(part):
                break
            written.append(part)
            await trio.sleep(0.01)
        assert wire.queued < 10  # refused for its bytes, not for its frames
        assert not wire.write_nowait(b"event")
        with trio.move_on_after(0.2) as waited:
            await wire.room()  # the session reads no request meanwhile
        assert waited.cancelled_caught
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now it reads
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wire.write, b"response")
            expected = b"".join(written) + b"response"
            assert await read_exactly(client, len(expected)) == expected
        await wire.room()  # read: room again


async def test_discarding_keeps_the_frame_already_begun() -> None:
    async with wire_pair() as (wire, client):
        written = await fill(wire, size=200_000)
        wire.discard()
        assert wire.queued <= 1
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wire.send_all, b"CLOSE")
            received = bytearray()
            while not received.endswith(b"CLOSE"):
                received += await client.receive_some(65536)
        body = bytes(received[: -len(b"CLOSE")])
        assert len(body) % 200_000 == 0 and 0 < len(body) < len(b"".join(written))
        assert body == b"".join(written)[: len(body)]  # whole frames, in order, then the close


async def test_a_peer_that_vanished_breaks_the_stream_for_writers() -> None:
    async with wire_pair() as (wire, client):
        client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        await client.aclose()  # with linger 0: a reset, as from a peer that crashed
        with trio.fail_after(5):
            with pytest.raises(trio.BrokenResourceError):
                while True:
                    await wire.send_all(b"x" * 10_000)
        assert wire.write_nowait(b"dropped")  # a push to a dead peer is dropped, not queued
        assert wire.queued == 0


async def test_nothing_is_written_once_closed() -> None:
    async with wire_pair() as (wire, client):
        await wire.aclose()
        assert wire.write_nowait(b"late")
        with pytest.raises(trio.ClosedResourceError):
            await wire.send_all(b"late")
        with pytest.raises(trio.ClosedResourceError):
            await wire.write(b"late")
        assert await client.receive_some(100) == b""
