"""Every script's output codes, the meeting JSON, the busy guard and the event streams, on
Redis 6.2 (this folder's conftest.py gives the imported tests a 6.2 server)."""

from __future__ import annotations

from roomful_meetings.storage.redis import Redis
from tests.storage.test_busy_guard import *  # noqa: F403
from tests.storage.test_events import *  # noqa: F403
from tests.storage.test_meeting_json import *  # noqa: F403
from tests.storage.test_script_codes import *  # noqa: F403
from tests.storage.test_scripts import *  # noqa: F403


async def test_the_server_here_is_redis_6_2(redis: Redis) -> None:
    """Through the same fixtures as the imported tests."""
    assert b"redis_version:6.2." in await redis.execute("INFO", "server")
