"""The embedded Redis is kept alive: killed for real, it comes back on its port, the server
serves again, and `roomful_redis_up` shows the outage."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from roomful_meetings import metrics
from roomful_meetings.app import Running, run_server
from roomful_meetings.client import connect
from roomful_meetings.config import Settings
from roomful_meetings.storage.redis import RedisAddress, RedisError, open_redis
from tests.conftest import SECRET, token


def redis_up() -> float | None:
    return metrics.REGISTRY.get_sample_value("roomful_redis_up")


async def redis_pid(address: RedisAddress) -> int | None:
    """The pid redis-server reports for itself, or None while it is down."""
    async with open_redis(address, pool_size=1, connect_timeout=0.5) as redis:
        with trio.move_on_after(2):
            await redis.wait_connected()
        try:
            info = (await redis.execute("INFO", "server")).decode()
        except RedisError:
            return None
    return int(info.split("process_id:")[1].split()[0])


async def until(check_passes: Callable[[], Awaitable[bool]]) -> None:
    """Poll a condition the server reaches by itself (a restart has no event to wait on)."""
    with trio.fail_after(30):
        while not await check_passes():  # noqa: ASYNC110 (another process: no trio.Event)
            await trio.sleep(0.01)


async def test_a_killed_embedded_redis_is_restarted_and_the_gauge_shows_the_outage(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    settings = Settings(port=0, redis_url="", data_dir=tmp_path / "var", jwt_secret=SECRET)
    stop = trio.Event()
    running: Running = await nursery.start(run_server, settings, stop)
    embedded = running.redis
    assert isinstance(embedded, RedisAddress)  # the embedded Redis: one server
    url = f"ws://127.0.0.1:{running.port}"
    assert redis_up() == 1.0
    killed = await redis_pid(embedded)
    assert killed is not None

    async def gauge_reads(value: float) -> bool:
        return redis_up() == value

    async def restarted() -> bool:
        pid = await redis_pid(embedded)
        return pid is not None and pid != killed

    os.kill(killed, signal.SIGKILL)
    await until(lambda: gauge_reads(0.0))
    await until(restarted)
    await until(lambda: gauge_reads(1.0))
    async with connect(url, token("alice")) as alice:
        await alice.next_push("connection:ready")
        reply = await alice.request("meeting:getMeeting", {"meetingId": "nothing"})
        assert reply.error is not None and reply.error.code == 404  # answered by Redis again
    stop.set()


def test_process_metrics_are_exposed() -> None:
    text = metrics.exposition().decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"):
        assert f"\n{name}" in text, name
    assert "# TYPE roomful_redis_up gauge" in text
