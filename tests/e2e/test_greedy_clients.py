"""Greedy clients against a real server, over raw sockets: one that asks for large answers
and reads none, one that sends a message in 1-byte fragments, one that floods pings. What
each can make the server hold or spend is bounded, and the others are still served."""

from __future__ import annotations

import json
import os

import trio

from roomful_meetings.client import connect
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import meeting, raw_peer, seed

TEXT, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x0, 0x8, 0x9, 0xA
YEAR = {"startDate": "2030-01-01T00:00:00Z", "endDate": "2030-12-31T00:00:00Z"}


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One client frame (masked), any payload size."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    size, first = len(payload), (0x80 if fin else 0) | opcode
    if size < 126:
        head = bytes([first, 0x80 | size])
    elif size < 65536:
        head = bytes([first, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + body


def rss() -> int:
    """This process's resident memory (the server under test runs in it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_a_client_that_never_reads_its_answers_holds_at_most_its_queue_and_its_requests_in_flight(
    start_server: StartServer,
) -> None:
    """One year of a daily series with a 10,000-character description is a 3.9 MB answer.
    A client that asks for it 60 times (within its rate) and reads nothing holds at most
    --send-queue-bytes plus --max-in-flight answers: the reader stops taking its requests
    (the frame limit alone let it pin every answer, ~230 MB here, 4 GB at 1024 frames)."""
    server = await start_server(send_queue_bytes=4 << 20, max_in_flight=4)
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        await alice.call(
            "meeting:createMeeting",
            meeting(
                start="2030-01-01T10:00:00Z",
                end="2030-01-01T10:30:00Z",
                invited=[],
                description="x" * 10_000,
                recurrence={"rule": "FREQ=DAILY", "timeZone": "UTC"},
            ),
        )
    peer = await raw_peer(server, "alice")
    before = rss()
    ask = json.dumps({"endpoint": "meeting:listUserMeetings", "data": YEAR, "event": {"id": "y"}}).encode()
    await peer.stream.send_all(masked(TEXT, ask) * 60)  # within the burst of 200; then never read
    await trio.sleep(3)
    held = rss() - before
    async with connect(server.url, token("carol")) as carol:  # others are still served
        await carol.call(
            "meeting:listUserMeetings",
            {"startDate": "2030-01-01T00:00:00Z", "endDate": "2030-01-02T00:00:00Z"},
        )
    await peer.stream.aclose()
    assert held < 48 * 2**20, f"the server holds {held / 2**20:.0f} MiB for one client that does not read"


async def test_a_message_sent_in_one_byte_fragments_costs_the_server_about_its_size(
    server: ServerHandle,
) -> None:
    """--max-frame-bytes (1 MiB) bounds what one connection's message costs: a message of
    1-byte fragments (or a frame trickled a byte per read) under the limit costs about its
    size, not ~50 bytes per byte (a part each)."""
    peer = await raw_peer(server, "alice")
    before = rss()
    fragments = masked(CONTINUATION, b" ", fin=False) * 10_000
    await peer.stream.send_all(masked(TEXT, b"{", fin=False))
    for _ in range(100):  # 1,000,000 payload bytes, under the 1 MiB limit; not finished
        await peer.stream.send_all(fragments)
    await peer.stream.send_all(masked(PING, b"read"))  # its pong: everything before was read
    assert await peer.next_frame() == (PONG, b"read")
    held = rss() - before
    await peer.stream.aclose()
    assert held < 8 * 2**20, f"a 1 MB message in fragments holds {held / 2**20:.0f} MiB"


async def test_a_ping_flood_is_cut_off_like_a_request_flood(server: ServerHandle) -> None:
    """Pings and pongs spend the request rate's tokens: past it they are dropped, and after
    more rejections in a row than the burst the connection is closed 1008, as a request
    flood is (contract 3: "an abusive client is met with a close"). Unlimited, a flood
    slowed another user's getMeeting from 0.5 ms to ~200 ms."""
    peer = await raw_peer(server, "alice")
    flood = masked(PING, b"") * 10_000

    async def send() -> None:
        for _ in range(30):  # 300,000 pings in about a second
            await peer.stream.send_all(flood)

    closed = None
    pongs = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        with trio.move_on_after(20):
            while True:
                opcode, payload = await peer.next_frame()
                if opcode == PONG:
                    pongs += 1
                    if pongs == 300_000:
                        break
                    continue
                closed = (opcode, payload)
                break
        nursery.cancel_scope.cancel()
    await peer.stream.aclose()
    assert closed is not None and closed[0] == CLOSE, f"{pongs} pings answered, never closed"
    assert int.from_bytes(closed[1][:2], "big") == 1008
