"""The connection caps hold under a burst of simultaneous handshakes (contract section 1)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

import trio
import trio.testing

from tests.conftest import ServerHandle, token
from tests.wsraw import open_raw

BURST = 100
StartServer = Callable[..., Awaitable[ServerHandle]]


async def burst(url_of: Callable[[int], str], held: list[trio.SocketStream]) -> Counter[int]:
    """Send BURST handshakes at once; keep every stream open so that accepted connections
    stay counted until all have been answered. Returns how many got each status."""
    statuses: Counter[int] = Counter()
    start = trio.Event()

    async def one(index: int) -> None:
        await start.wait()
        stream, status, _body = await open_raw(url_of(index))
        held.append(stream)
        statuses[status] += 1

    async with trio.open_nursery() as nursery:
        for index in range(BURST):
            nursery.start_soon(one, index)
        await trio.testing.wait_all_tasks_blocked()
        start.set()
    return statuses


async def statuses_of_a_burst(url_of: Callable[[int], str]) -> Counter[int]:
    held: list[trio.SocketStream] = []
    try:
        return await burst(url_of, held)
    finally:
        for stream in held:
            await stream.aclose()


async def test_a_burst_of_one_users_handshakes_gets_exactly_the_per_user_cap(
    start_server: StartServer,
) -> None:
    server = await start_server(max_connections_per_user=20)
    statuses = await statuses_of_a_burst(lambda _: f"{server.url}?token={token('dora')}")
    assert statuses == {101: 20, 429: BURST - 20}


async def test_a_burst_of_handshakes_gets_exactly_the_instance_cap(start_server: StartServer) -> None:
    server = await start_server(max_connections=30)
    statuses = await statuses_of_a_burst(lambda index: f"{server.url}?token={token(f'u{index}')}")
    assert statuses == {101: 30, 503: BURST - 30}
