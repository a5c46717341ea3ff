"""Compose and run one server instance: Redis (embedded or not), scripts, hub, websocket."""

from __future__ import annotations

import functools
import gc
import json
import logging
import math
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import trio

from roomful_meetings import metrics
from roomful_meetings.auth import TokenVerifier
from roomful_meetings.config import ConfigError, Settings, worker_parent
from roomful_meetings.fanout.hub import Hub
from roomful_meetings.service.context import Services
from roomful_meetings.service.feeds import render_tenant_feed
from roomful_meetings.service.outbox import sweep_outboxes
from roomful_meetings.service.tenants import Tenants, services_for
from roomful_meetings.storage.embedded import embedded_redis
from roomful_meetings.storage.keys import DEFAULT_TENANT, Keys
from roomful_meetings.storage.redis import (
    Redis,
    RedisError,
    Script,
    Target,
    load_scripts,
    open_redis,
    parse_redis_target,
)
from roomful_meetings.storage.redis.probe import Probe
from roomful_meetings.storage.redis.scripts import LoadOptions
from roomful_meetings.storage.schema import check_data_format, warn_on_eviction
from roomful_meetings.transport.http import serve_http
from roomful_meetings.transport.listen import fit_descriptor_limit
from roomful_meetings.transport.server import WebsocketServer

log = logging.getLogger("roomful_meetings")

GC_YOUNG_THRESHOLD: Final = 10_000  # allocations between collections of the young (default 700)

STARTUP_RETRY_SECONDS: Final = 1.0
PARENT_POLL_SECONDS: Final = 0.5  # how often a worker checks that its parent still runs
WAITING_LOG_SECONDS: Final = 5.0  # how often start-up says it is still waiting for Redis


class RedisNotReached(RuntimeError):
    """Redis was not ready within --redis-connect-timeout (the command line exits 1)."""


@dataclass(frozen=True, slots=True)
class Running:
    port: int
    redis: Target


def configured_redis(settings: Settings) -> Target | None:
    """The address of --redis-url, None for the embedded Redis. Raises ConfigError."""
    if not settings.redis_url:
        return None
    try:
        return parse_redis_target(settings.redis_url)
    except ValueError as exc:
        raise ConfigError(f"bad value for --redis-url: {exc}") from None


@asynccontextmanager
async def redis_address(settings: Settings) -> AsyncIterator[Target]:
    configured = configured_redis(settings)
    if configured is not None:
        yield configured
        return
    async with embedded_redis(settings.data_dir) as address:
        log.info(
            "embedded redis-server on %s:%d, data in %s",
            address.host,
            address.port,
            settings.data_dir / "redis",
        )
        yield address


def scripts_for(redis: Redis) -> dict[str, Script]:
    """The scripts as this client runs them: on a cluster with sharded pub/sub and the slot
    guard, with events held until replicas have their change with --redis-min-replicas
    (storage/redis/scripts.py)."""
    options = LoadOptions(cluster=redis.sharded, hold_events=redis.min_replicas > 0)
    return load_scripts(options=options)


async def prepare_redis(redis: Redis, keys: Keys, connect_timeout: float = 0.0) -> None:
    """Wait for Redis, check the data format, load the scripts, warn where keys could be
    evicted. Raises IncompatibleData for data of another format version, UpgradeRefused for
    an upgrade of the data whose writes Redis refuses, RedisNotReached
    when that is not done within `connect_timeout` seconds (0: wait for ever)."""
    scripts = scripts_for(redis)
    deadline = trio.current_time() + connect_timeout if connect_timeout > 0 else math.inf
    while True:
        try:
            await wait_connected(redis, deadline, connect_timeout)
            await check_data_format(redis, keys)
            await redis.load_scripts(scripts)
            await warn_on_eviction(redis)
            return
        except RedisError as exc:
            log.warning("Redis not ready (%s); retrying", exc)
            if trio.current_time() + STARTUP_RETRY_SECONDS >= deadline:
                raise RedisNotReached(
                    f"Redis at {redis.address.masked()} not ready within {connect_timeout:g}s "
                    f"(--redis-connect-timeout): {exc}"
                ) from None
            await trio.sleep(STARTUP_RETRY_SECONDS)


async def wait_connected(redis: Redis, deadline: float, connect_timeout: float) -> None:
    """Wait for a link to Redis, saying every few seconds that it is still awaited.

    Raises RedisNotReached at `deadline` (trio clock).
    """
    waited_since = trio.current_time()
    while not redis.connected:
        if trio.current_time() >= deadline:
            raise RedisNotReached(
                f"Redis at {redis.address.masked()} not reachable within {connect_timeout:g}s "
                "(--redis-connect-timeout)"
            )
        with trio.move_on_at(min(deadline, trio.current_time() + WAITING_LOG_SECONDS)):
            await redis.wait_connected()
        if not redis.connected and trio.current_time() < deadline:
            log.warning(
                "still waiting for Redis at %s (%.0fs so far; SIGTERM or Ctrl-C stops)",
                redis.address.masked(),
                trio.current_time() - waited_since,
            )


def build_services(settings: Settings, redis: Redis, tenant: str = DEFAULT_TENANT) -> Services:
    """The stores of one tenant (tests, benchmarks and commands; a server uses Tenants)."""
    return services_for(settings, redis, scripts_for(redis), tenant)


async def run_server(
    settings: Settings,
    stop: trio.Event | None = None,
    *,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until `stop` is set (then drain and return) or until cancelled; `started` with
    the bound port once connections are accepted."""
    stop = stop if stop is not None else trio.Event()
    # Mistakes in the settings are reported before anything starts (ConfigError).
    verifier = TokenVerifier(settings)
    configured_redis(settings)
    log.info("settings %s", json.dumps(settings.describe(), sort_keys=True))
    async with (
        redis_address(settings) as address,
        open_redis(
            address,
            pool_size=settings.redis_pool_size,
            reply_timeout=settings.redis_timeout,
            min_replicas=settings.redis_min_replicas,
        ) as redis,
    ):
        metrics.REDIS_UP.set_function(lambda: float(redis.connected))
        tenants = Tenants(settings, redis, scripts_for(redis))
        hub = Hub(redis)
        # Whether Redis answers, rather than whether links to it are open (a frozen Redis
        # keeps them open): started once the events link is up, so its first PINGs answer.
        probe = Probe(
            redis, hub.link, interval=settings.redis_probe_interval, timeout=settings.redis_probe_timeout
        )
        prepared = trio.Event()
        probing = trio.Event()

        def readiness() -> str | None:
            if stop.is_set():
                return "draining"
            if not prepared.is_set() or not probing.is_set() or not redis.connected:
                return "waiting for Redis"
            if not hub.listening:
                return "not subscribed to events: the pub/sub link to Redis is down"
            return probe.problem()

        async with trio.open_nursery() as nursery:
            if settings.http_port:
                serve = functools.partial(
                    serve_http,
                    render=functools.partial(render_tenant_feed, tenants),
                    max_connections=settings.max_http_connections,
                )
                http_port = await nursery.start(serve, settings.host, settings.http_port, readiness)
                log.info("health, metrics and calendar feeds on http://%s:%d", settings.host, http_port)
            await prepare_redis(redis, tenants.default.keys, settings.redis_connect_timeout)
            prepared.set()
            metrics.CONNECTIONS.set_function(lambda: hub.connections)
            await nursery.start(hub.run)
            await nursery.start(probe.run)
            probing.set()
            metrics.REDIS_ANSWERING.set_function(probe.answering)
            if redis.min_replicas:
                nursery.start_soon(sweep_outboxes, tenants)
            # Listen only once events can reach this instance: ready when it says it listens.
            await hub.wait_listening()
            server = WebsocketServer(settings, tenants, hub, verifier)
            async with trio.open_nursery() as serving:  # ends once drained after `stop`
                port = await serving.start(server.serve, stop)
                log.info("listening on ws://%s:%d", settings.host, port)
                task_status.started(Running(port=port, redis=address))
            nursery.cancel_scope.cancel()


async def serve_until_signalled(settings: Settings) -> None:
    """`roomful-meetings serve`: run until SIGTERM or SIGINT, then stop cleanly (exit 0).

    The signals are obeyed in every phase: while starting (waiting for Redis, say) the
    first one stops at once; while serving it drains; a second one while draining stops
    at once.
    """
    stop = trio.Event()
    listening = trio.Event()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def run_then_return(
                *, task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED
            ) -> None:
                await run_server(settings, stop, task_status=task_status)
                nursery.cancel_scope.cancel()

            nursery.start_soon(obey_signals, signals, stop, listening, nursery.cancel_scope)
            if parent := worker_parent():
                nursery.start_soon(drain_when_orphaned, parent)
            await nursery.start(run_then_return)
            listening.set()
            # The process's own limit, so here rather than in run_server (tests run many
            # servers in one process); once listening, so that mistakes in the settings are
            # the one line a refused start prints.
            http = settings.max_http_connections if settings.http_port else 0
            fit_descriptor_limit(settings.max_connections + http)
            # What exists once the server listens (modules, zone data, scripts, metrics)
            # lives as long as the process: keep it out of every later garbage collection.
            # Measured (bench/run.py get): p99 36-41 ms -> 19-21 ms, 10 % less CPU per get.
            gc.freeze()
            # A request allocates a few dozen tracked objects (coroutines, lists, structs)
            # and leaves no cycles; collecting the young every 700 of them cost about 10 %
            # of a getMeeting's CPU and its p99 (bench/run.py get, one run each: 29.5 ->
            # 26.8 us, p99 6.5 -> 4.9 ms with 10,000; GC off altogether: 26.6 us, 5.0 ms).
            gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


async def drain_when_orphaned(parent: int) -> None:
    """A worker of `serve --workers N` whose parent is gone (killed with SIGKILL, say, which
    it cannot pass on) drains and stops as on SIGTERM: the workers run in sessions of their
    own, so nothing else would stop them, and they would keep the port, on which the next
    `serve --workers` then refuses to start. Polled: a parent-death signal is tied to the
    thread that started the process, one of trio's, which may end long before the parent."""
    while os.getppid() == parent:  # noqa: ASYNC110 (another process: no trio.Event)
        await trio.sleep(PARENT_POLL_SECONDS)
    log.warning("the parent process %d is gone: draining, then stopping", parent)
    os.kill(os.getpid(), signal.SIGTERM)


async def obey_signals(
    signals: AsyncIterator[int], stop: trio.Event, listening: trio.Event, scope: trio.CancelScope
) -> None:
    async for signum in signals:
        name = signal.Signals(signum).name
        if not listening.is_set():
            log.info("received %s while starting: stopping", name)
            scope.cancel()
            return
        if stop.is_set():
            log.warning("received %s again: stopping at once", name)
            scope.cancel()
            return
        log.info("received %s: draining, then stopping", name)
        stop.set()
