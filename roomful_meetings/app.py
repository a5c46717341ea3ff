"""Compose and run one server instance: Redis (embedded or not), scripts, hub, websocket."""

from __future__ import annotations

import gc
import json
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import trio

from roomful_meetings import metrics
from roomful_meetings.auth import TokenVerifier
from roomful_meetings.config import Settings
from roomful_meetings.fanout.hub import Hub
from roomful_meetings.service.context import Services
from roomful_meetings.storage.availability import AvailabilityStore
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.directory import DirectoryStore
from roomful_meetings.storage.embedded import embedded_redis
from roomful_meetings.storage.events import EventStore
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingStore
from roomful_meetings.storage.redis import (
    Redis,
    RedisAddress,
    RedisError,
    load_scripts,
    open_redis,
    parse_redis_url,
)
from roomful_meetings.transport.http import serve_http
from roomful_meetings.transport.server import WebsocketServer

log = logging.getLogger("roomful_meetings")

STARTUP_RETRY_SECONDS: Final = 1.0
# The layout of the data in Redis (docs/architecture.md). A server refuses data of another
# version; docs/operations.md says how to move between versions.
DATA_FORMAT_VERSION: Final = "3"
# Formats this release reads as they are and marks as its own at start (1: every stream
# entry holds its frame; 2 adds entries pointing to a frame stored once, which a format-1
# server would misread, and moves events to one pub/sub channel; 3 adds series, which a
# format-2 server's scripts would treat as single meetings).
UPGRADES_IN_PLACE: Final = {"1", "2"}


class IncompatibleData(RuntimeError):
    """Redis holds data in a format this server does not understand."""


@dataclass(frozen=True, slots=True)
class Running:
    port: int
    redis: RedisAddress


@asynccontextmanager
async def redis_address(settings: Settings) -> AsyncIterator[RedisAddress]:
    if settings.redis_url:
        yield parse_redis_url(settings.redis_url)
        return
    async with embedded_redis(settings.data_dir) as address:
        log.info(
            "embedded redis-server on %s:%d, data in %s",
            address.host,
            address.port,
            settings.data_dir / "redis",
        )
        yield address


async def prepare_redis(redis: Redis, keys: Keys) -> None:
    """Wait for Redis, check the data format, load the scripts, warn where keys could be
    evicted. Raises IncompatibleData for data of another format version."""
    scripts = load_scripts()
    while True:
        try:
            await redis.wait_connected()
            await check_data_format(redis, keys)
            await redis.load_scripts(scripts)
            await warn_on_eviction(redis)
            return
        except RedisError as exc:
            log.warning("Redis not ready (%s); retrying", exc)
            await trio.sleep(STARTUP_RETRY_SECONDS)


async def check_data_format(redis: Redis, keys: Keys) -> None:
    # SET NX: a new database (or one from before versions existed) becomes this version.
    await redis.execute("SET", keys.schema_version(), DATA_FORMAT_VERSION, "NX")
    found = (await redis.execute("GET", keys.schema_version()) or b"").decode()
    if found in UPGRADES_IN_PLACE:
        await redis.execute("SET", keys.schema_version(), DATA_FORMAT_VERSION)
        log.warning(
            "data format %s marked %s: nothing to convert, but servers of the earlier release "
            "must not run beside this one (they refuse to start now)",
            found,
            DATA_FORMAT_VERSION,
        )
        found = DATA_FORMAT_VERSION
    if found != DATA_FORMAT_VERSION:
        raise IncompatibleData(
            f"Redis key {keys.schema_version()!r} says the data is in format {found!r}; this server "
            f"understands format {DATA_FORMAT_VERSION!r}. See docs/operations.md (upgrades)."
        )


async def warn_on_eviction(redis: Redis) -> None:
    try:
        reply = await redis.execute("CONFIG", "GET", "maxmemory-policy")
    except RedisError as exc:
        log.warning("could not read Redis maxmemory-policy (%s): make sure it is noeviction", exc)
        return
    policy = reply[1].decode() if len(reply) > 1 else "unknown"
    if policy != "noeviction":
        log.warning(
            "!!! Redis maxmemory-policy is %r: Redis may EVICT meetings, indexes and events under memory "
            "pressure, leaving data half-gone. Set `maxmemory-policy noeviction` for this server. !!!",
            policy,
        )


def build_services(settings: Settings, redis: Redis) -> Services:
    keys = Keys(settings.key_prefix)
    scripts = load_scripts()
    return Services(
        settings=settings,
        keys=keys,
        catalog=CatalogStore(redis, scripts, keys),
        meetings=MeetingStore(redis, scripts, keys),
        events=EventStore(redis, scripts, keys),
        directory=DirectoryStore(redis, scripts, keys),
        availability=AvailabilityStore(redis, scripts, keys),
    )


async def run_server(
    settings: Settings,
    stop: trio.Event | None = None,
    *,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until `stop` is set (then drain and return) or until cancelled; `started` with
    the bound port once connections are accepted."""
    stop = stop if stop is not None else trio.Event()
    log.info("settings %s", json.dumps(settings.describe(), sort_keys=True))
    verifier = TokenVerifier(settings)
    async with (
        redis_address(settings) as address,
        open_redis(
            address, pool_size=settings.redis_pool_size, reply_timeout=settings.redis_timeout
        ) as redis,
    ):
        services = build_services(settings, redis)
        hub = Hub(services.keys, address)
        prepared = trio.Event()

        def readiness() -> str | None:
            if stop.is_set():
                return "draining"
            if not prepared.is_set() or not redis.connected:
                return "waiting for Redis"
            if not hub.listening:
                return "not subscribed to events: the pub/sub link to Redis is down"
            return None

        async with trio.open_nursery() as nursery:
            if settings.http_port:
                http_port = await nursery.start(serve_http, settings.host, settings.http_port, readiness)
                log.info("health and metrics on http://%s:%d", settings.host, http_port)
            await prepare_redis(redis, services.keys)
            prepared.set()
            metrics.CONNECTIONS.set_function(lambda: hub.connections)
            await nursery.start(hub.run)
            server = WebsocketServer(settings, services, hub, verifier)
            async with trio.open_nursery() as serving:  # ends once drained after `stop`
                port = await serving.start(server.serve, stop)
                log.info("listening on ws://%s:%d", settings.host, port)
                task_status.started(Running(port=port, redis=address))
            nursery.cancel_scope.cancel()


async def serve_until_signalled(settings: Settings) -> None:
    """`roomful-meetings serve`: run until SIGTERM or SIGINT, then stop cleanly (exit 0)."""
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def run_then_return(
                *, task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED
            ) -> None:
                await run_server(settings, stop, task_status=task_status)
                nursery.cancel_scope.cancel()

            await nursery.start(run_then_return)
            # What exists once the server listens (modules, zone data, scripts, metrics)
            # lives as long as the process: keep it out of every later garbage collection.
            # Measured (bench/run.py get): p99 36-41 ms -> 19-21 ms, 10 % less CPU per get.
            gc.freeze()
            async for signum in signals:
                if stop.is_set():
                    log.warning("received %s again: stopping at once", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break
                log.info("received %s: draining, then stopping", signal.Signals(signum).name)
                stop.set()
