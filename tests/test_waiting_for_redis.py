"""Start-up waiting for a Redis that does not answer, on trio's MockClock: it says so every
few seconds, and gives up at --redis-connect-timeout."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from roomful_meetings.app import WAITING_LOG_SECONDS, RedisNotReached, prepare_redis
from roomful_meetings.storage.embedded import free_port
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import RedisAddress, open_redis


async def test_start_up_says_it_waits_then_gives_up_at_the_connect_timeout(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roomful_meetings")
    nobody = RedisAddress(host="127.0.0.1", port=free_port())
    began = trio.current_time()
    async with open_redis(nobody) as redis:
        with pytest.raises(RedisNotReached, match=r"not reachable within 12s \(--redis-connect-timeout\)"):
            await prepare_redis(redis, Keys("t:"), connect_timeout=12)
    assert trio.current_time() - began == pytest.approx(12)
    waiting = [r.getMessage() for r in caplog.records if r.getMessage().startswith("still waiting")]
    assert len(waiting) == 12 // WAITING_LOG_SECONDS
    assert all(f"127.0.0.1:{nobody.port}" in message for message in waiting)
