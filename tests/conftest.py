"""Shared fixtures: one private redis-server for the session, a fresh key prefix per test.

The suite never touches a Redis it did not start: every server here is a child process on a
free loopback port, with no persistence, stopped when the session ends.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from hypothesis import settings

from roomful_meetings.storage.embedded import RedisProcess, find_redis_server, free_port
from tests.topologies import Node, command, data_node_args, info, wait_until

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.register_profile("medium", max_examples=300, deadline=None)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longer Hypothesis profiles run for minutes per test: lift the per-test timeout."""
    if PROFILE != "ci":
        for item in items:
            item.add_marker(pytest.mark.timeout(0), append=False)


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
    server = RedisProcess(tmp_path / "own-redis", persistent=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def replica(own_redis: RedisProcess, tmp_path: Path) -> Iterator[Node]:
    """A replica of `own_redis`, in sync."""
    command(own_redis.port, "CONFIG", "SET", "repl-diskless-sync-delay", "0")  # sync now, not in 5 s
    port = free_port()
    folder = tmp_path / "replica"
    node = Node(
        folder,
        data_node_args(find_redis_server(), port, folder, "--replicaof", "127.0.0.1", str(own_redis.port)),
        port,
    )
    node.start()
    try:
        node.wait_up()
        wait_until(lambda: info(port, "replication").get("master_link_status") == "up", "replica in sync")
        # After a diskless full sync (Redis 7's default) the primary streams nothing to the
        # replica, not even WAIT's GETACK,
        # until the replica's first ACK (sent once a second): a WAIT before then times out.
        # A PUBLISH moves the replication offset without writing a key; wait for its ACK.
        command(own_redis.port, "PUBLISH", "replica-fixture", "sync")
        target = int(info(own_redis.port, "replication")["master_repl_offset"])
        wait_until(lambda: _acked_offset(own_redis.port) >= target, "the replica's first ACK")
        yield node
    finally:
        node.stop()


def _acked_offset(port: int) -> int:
    fields = dict(f.split("=", 1) for f in info(port, "replication").get("slave0", "").split(",") if "=" in f)
    return int(fields.get("offset", "-1"))


# --- running servers --------------------------------------------------------------------------

import msgspec  # noqa: E402
import trio  # noqa: E402

from roomful_meetings import logs  # noqa: E402
from roomful_meetings.app import Running, run_server  # noqa: E402
from roomful_meetings.auth import mint_token  # noqa: E402
from roomful_meetings.config import Settings  # noqa: E402

SECRET = "test-secret-of-the-suite-0123456789abcdef"


def token(user: str, *, admin: bool = False, ttl: int = 3600, **claims: Any) -> str:
    return mint_token(SECRET, user, admin=admin, ttl_seconds=ttl, **claims)


class ServerHandle(msgspec.Struct):
    url: str
    settings: Settings
    stop: trio.Event  # set it to drain and stop this instance


class StartServer(Protocol):
    """The `start_server` fixture: settings overrides in, a running instance out."""

    async def __call__(self, **overrides: Any) -> ServerHandle: ...


@pytest.fixture
def start_server(
    nursery: trio.Nursery, redis_server: RedisProcess, prefix: str, tmp_path: Path
) -> StartServer:
    """Start a real server instance (as many as a test wants) on the suite's Redis."""

    async def start(**overrides: Any) -> ServerHandle:
        base = Settings(
            port=0,
            redis_url=redis_server.url,
            key_prefix=prefix,
            jwt_secret=SECRET,
            data_dir=tmp_path / "var",
        )
        settings = dataclasses.replace(base, **overrides)
        stop = trio.Event()
        running: Running = await nursery.start(run_server, settings, stop)
        return ServerHandle(url=f"ws://127.0.0.1:{running.port}", settings=settings, stop=stop)

    return start


@pytest.fixture
async def server(start_server: StartServer) -> ServerHandle:
    return await start_server()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """The server's log lines (debug level and up) while the test runs."""
    stream = io.StringIO()
    handler = logs.configure("debug", stream)
    before = logging.getLogger().level
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(before)
