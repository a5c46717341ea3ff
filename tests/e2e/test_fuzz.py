"""Hostile input over a real socket: random and mutated frames against a live server.

The decoding itself is fuzzed without sockets (tests/protocol/test_envelope.py); this checks
the whole path on top, with fewer examples: one server (a `roomful-meetings serve` process
on the suite's Redis) for the test, a fresh connection per example. Every frame must get a
contract error (or, for a binary frame, the 1003 close); the server must keep serving; and
the stored data must be unchanged, byte for byte.
"""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed

from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import Redis, open_redis
from tests.conftest import SECRET, token
from tests.e2e.world import close_code
from tests.frames import frames
from tests.processes import serving
from tests.wsraw import open_ws

PREFIX = "fuzz:"


@pytest.fixture(scope="module")
def fuzz_server(redis_server: RedisProcess) -> Iterator[str]:
    """One server for every example: its websocket URL."""
    flags = ("--redis-url", redis_server.url, "--key-prefix", PREFIX, "--jwt-secret", SECRET)
    with serving(*flags, quiet=True) as (port, _):
        yield f"ws://127.0.0.1:{port}"


async def snapshot(redis: Redis, prefix: str) -> dict[bytes, bytes]:
    keys = await redis.scan(prefix + "*")
    dumps = await redis.pipeline([("DUMP", key) for key in keys])
    return dict(zip(keys, dumps, strict=True))


async def throw(redis_server: RedisProcess, url: str, batch: list[str | bytes]) -> None:
    headers = [(b"authorization", f"Bearer {token('fuzzer')}".encode())]
    async with open_redis(redis_server.address) as redis, AsyncExitStack() as stack:
        ws = await stack.enter_async_context(open_ws(url, headers))
        await ws.get_message()  # connection:ready; the profile upsert is done
        before = await snapshot(redis, PREFIX)
        for frame in batch:
            await ws.send_message(frame)
            try:
                with trio.fail_after(10):
                    reply = json.loads(await ws.get_message())
                assert reply["error"]["status"] is True, reply
                assert reply["error"]["code"] in (400, 403, 404), reply
            except ConnectionClosed as closed:
                assert isinstance(frame, bytes) and close_code(closed) == 1003, (frame, closed.reason)
                ws = await stack.enter_async_context(open_ws(url, headers))
                await ws.get_message()
        await ws.send_message(
            '{"endpoint":"meeting:getMeeting","data":{"meetingId":"m"},"event":{"id":"last"}}'
        )
        assert json.loads(await ws.get_message())["error"]["code"] == 404  # still serving
        assert await snapshot(redis, PREFIX) == before  # nothing written


@settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=12))
def test_random_and_mutated_frames_get_contract_errors_and_change_nothing(
    redis_server: RedisProcess, fuzz_server: str, batch: list[str | bytes]
) -> None:
    # trio-websocket's *client* leaves its socket to the garbage collector after the server's
    # 1003 close; that happens while this loop winds down, so its warning is silenced here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        trio.run(throw, redis_server, fuzz_server, batch)
        gc.collect()
