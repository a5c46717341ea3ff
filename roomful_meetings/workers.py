"""`serve --workers N`: N server processes on one port, the way to use every core of a host.

Theory of operation: the parent checks the port is free (and, for --port 0, picks one) by
binding it without listening and without SO_REUSEPORT (set once it is bound), starts the
embedded Redis if there is no --redis-url, then starts N `serve` processes: the flags given
to it on their command lines, but the secrets (the Redis URL, which may hold a password,
--jwt-secret, --feed-secret) in their environment, which `ps` shows no other user. Each
worker listens on the same port with SO_REUSEPORT, so the kernel
spreads new connections over them; they share nothing but Redis (events reach every
worker through its own subscription, as they reach separate instances). Worker i (from 1)
serves health and metrics on --http-port + i - 1, its metrics labelled worker="i".

The workers run in sessions of their own, so a Ctrl-C in a terminal reaches only the
parent, which forwards SIGTERM and SIGINT to every worker: they drain together, and a
second signal stops them at once, as for one instance. A worker that exits while the
others serve is reported (one line with its exit code or signal) and the others are
drained. The parent exits 0 when every worker exited 0, else with the code of the first
worker that failed (2 for a mistake in the settings, 1 otherwise): not that of a worker
the parent then stopped, which a SIGTERM may catch before it handles signals (143).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields

import trio

from roomful_meetings.config import PARENT_ENV, WORKER_ENV, ConfigError, Settings
from roomful_meetings.errors import ApiError
from roomful_meetings.service.feeds import public_base
from roomful_meetings.storage.embedded import embedded_redis

log = logging.getLogger("roomful_meetings")


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Bind (without listening: it takes no connections) to check the port is free and,
    for port 0, to pick one the workers then share.

    The bind is made without SO_REUSEPORT, so that it fails on a port any other socket
    holds, even one of another `serve --workers` group (with SO_REUSEPORT both groups took
    the port and the kernel spread clients over two deployments). SO_REUSEPORT is set once
    bound, which lets this group's workers (same user) bind beside it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} (--port): {exc.strerror or exc}") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock, sock.getsockname()[1]


@asynccontextmanager
async def shared_redis_url(settings: Settings) -> AsyncIterator[str]:
    """--redis-url, or the URL of an embedded Redis the parent runs for all its workers."""
    if settings.redis_url:
        yield settings.redis_url
        return
    async with embedded_redis(settings.data_dir) as address:
        yield address.url()


# Settings that hold a secret (the Redis URL may carry a password): given to the workers in
# their environment, which only their user can read, never on their command line, which
# every user of the host sees in `ps`.
SECRET_SETTINGS = ("redis_url", "jwt_secret", "feed_secret")
_SET_PER_WORKER = ("workers", "port", "http_port")


def worker_command(args: argparse.Namespace, port: int, http_port: int) -> list[str]:
    """A worker's command line: the flags given to `serve` but the secret ones, then this
    worker's own."""
    flags = []
    for field in fields(Settings):
        value = getattr(args, field.name, None)
        if value is not None and field.name not in (*SECRET_SETTINGS, *_SET_PER_WORKER):
            flags.append(f"--{field.name.replace('_', '-')}={value}")  # `=`: a value may start with -
    own = ["--workers", "1", "--port", str(port), "--http-port", str(http_port)]
    return [sys.executable, "-m", "roomful_meetings", "serve", *flags, *own]


def worker_env(settings: Settings, index: int, redis_url: str) -> dict[str, str]:
    """A worker's environment: the parent's, its index, and the secret settings as the
    parent resolved them (flag or environment; an empty one counts as unset)."""
    secrets = {"redis_url": redis_url, "jwt_secret": settings.jwt_secret, "feed_secret": settings.feed_secret}
    return {
        **os.environ,
        WORKER_ENV: str(index),
        PARENT_ENV: str(os.getpid()),
        **{"ROOMFUL_" + name.upper(): value for name, value in secrets.items()},
        **_one_feed_base(settings),
    }


def _one_feed_base(settings: Settings) -> dict[str, str]:
    """Without --public-base-url each worker would name its own HTTP port in the feed URLs
    it hands out, and a user's URL would depend on the worker that answered: all of them
    name the first worker's (any worker serves any feed)."""
    if settings.public_base_url:
        return {}
    try:
        return {"ROOMFUL_PUBLIC_BASE_URL": public_base(settings)}
    except ApiError:  # no feeds here (no --http-port, or a wildcard --host): they say so
        return {}


async def serve_workers(settings: Settings, args: argparse.Namespace) -> int:
    """Run `settings.workers` workers until they end; the exit code for the command line.
    `args`: the `serve` command line as parsed."""
    reserved, port = reserve_port(settings.host, settings.port)
    with reserved:
        async with shared_redis_url(settings) as redis_url:
            return await _supervise(settings, args, port, redis_url)


async def _supervise(settings: Settings, args: argparse.Namespace, port: int, redis_url: str) -> int:
    processes: list[trio.Process] = []
    codes: dict[int, int] = {}
    first_failure = 0  # the exit code of the first worker that failed, in time
    stopping = False
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            for index in range(1, settings.workers + 1):
                http_port = settings.http_port + index - 1 if settings.http_port else 0
                process = await trio.lowlevel.open_process(
                    worker_command(args, port, http_port),
                    env=worker_env(settings, index, redis_url),
                    start_new_session=True,  # signals come from the parent only
                )
                processes.append(process)
            log.info(
                "%d workers on ws://%s:%d (pids %s)",
                len(processes),
                settings.host,
                port,
                " ".join(str(p.pid) for p in processes),
            )

            def stop_all(signum: int) -> None:
                for process in processes:
                    if process.returncode is None:
                        process.send_signal(signum)

            async def forward() -> None:
                nonlocal stopping
                async for signum in signals:
                    stopping = True
                    log.info("received %s: passing it to the workers", signal.Signals(signum).name)
                    stop_all(signum)

            async def watch(index: int, process: trio.Process) -> None:
                nonlocal first_failure
                code = await process.wait()
                codes[index] = code
                if code != 0 and not first_failure:  # how the others end next is the parent's doing
                    first_failure = _exit_code(code)
                    if not stopping:
                        pid = process.pid
                        log.error("worker %d (pid %d) %s; stopping the others", index, pid, _ended(code))
                        stop_all(signal.SIGTERM)
                if len(codes) == len(processes):
                    nursery.cancel_scope.cancel()

            nursery.start_soon(forward)
            for index, process in enumerate(processes, start=1):
                nursery.start_soon(watch, index, process)
    return first_failure


def _ended(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _exit_code(code: int) -> int:
    return 128 - code if code < 0 else code
