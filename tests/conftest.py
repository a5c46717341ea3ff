"""Shared fixtures: one private redis-server for the session, a fresh key prefix per test.

The suite never touches a Redis it did not start: every server here is a child process on a
free loopback port, with no persistence, stopped when the session ends.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from roomful_meetings.storage.embedded import RedisProcess

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    server = RedisProcess(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses, so tests share one Redis without flushing it."""
    return f"t{os.getpid()}-{next(_prefixes)}:"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server for this test alone, for tests that stop and restart it."""
    server = RedisProcess(tmp_path / "own-redis")
    server.start()
    yield server
    server.stop()
