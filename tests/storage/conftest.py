"""Fixtures of the storage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import Redis, open_redis


@pytest.fixture
async def redis(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    """A connection to the suite's Redis."""
    async with open_redis(redis_server.address) as connection:
        await connection.wait_connected()
        yield connection
