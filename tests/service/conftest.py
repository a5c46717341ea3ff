"""The service layer on the suite's real Redis, without a websocket in between."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from roomful_meetings.app import build_services
from roomful_meetings.config import Settings
from roomful_meetings.service.context import Services
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import load_scripts, open_redis
from tests.conftest import SECRET


@asynccontextmanager
async def open_services(redis_server: RedisProcess, prefix: str) -> AsyncIterator[Services]:
    """The stores and settings a handler is given, on keys under `prefix`."""
    # With a secret given, nothing is generated in the data folder (which is never written).
    settings = Settings(
        redis_url=redis_server.url, key_prefix=prefix, data_dir=Path("unused"), jwt_secret=SECRET
    )
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        await redis.load_scripts(load_scripts())
        yield build_services(settings, redis)
