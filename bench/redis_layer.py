"""The storage ceiling: EVALSHA round trips through three Redis clients, one run, side by side.

    python bench/redis_layer.py [--tasks 50] [--seconds 3] [--rounds 3] [--redis-url URL]

Each client runs the same small script (INCR of a key per task) from `--tasks` concurrent
trio tasks for `--seconds`, rounds interleaved so machine noise hits all three alike:

- `project`: roomful_meetings.storage.redis (the pooled, pipelined layer the server uses)
- `plain`: a bare trio socket per task with a hiredis reader (what a hand-written loop does)
- `plain_pipelined`: one bare socket shared by all tasks, commands pipelined, a reader task
  waking callers (the same design as `project` with nothing else: no timeouts, no pool)
- `coredis`: coredis on trio (the maintained alternative), one client shared by all tasks

Without --redis-url a private redis-server is started. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hiredis
import trio

from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import open_redis
from roomful_meetings.storage.redis.connection import pack
from roomful_meetings.storage.redis.scripts import Script
from roomful_meetings.storage.redis.url import RedisAddress, parse_redis_url

SCRIPT_SOURCE = b"return redis.call('INCR', KEYS[1])"
SCRIPT = Script.from_source("bench_incr", SCRIPT_SOURCE)

Worker = Callable[[int], Awaitable[None]]


async def run_tasks(tasks: int, seconds: float, make_worker: Callable[[list[int]], Worker]) -> float:
    """Run `tasks` copies of a worker loop for `seconds`; returns calls per second."""
    counts = [0] * tasks
    worker = make_worker(counts)
    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for index in range(tasks):
                nursery.start_soon(worker, index)
    return sum(counts) / seconds


async def project(address: RedisAddress, tasks: int, seconds: float) -> float:
    async with open_redis(address) as redis:  # the server's default pool
        await redis.wait_connected()
        await redis.load_scripts({SCRIPT.name: SCRIPT})

        def make(counts: list[int]) -> Worker:
            async def worker(index: int) -> None:
                keys = [f"bench:project:{index}"]
                while True:
                    await redis.evalsha(SCRIPT, keys)
                    counts[index] += 1

            return worker

        return await run_tasks(tasks, seconds, make)


async def plain(address: RedisAddress, tasks: int, seconds: float) -> float:
    streams = [await trio.open_tcp_stream(address.host, address.port) for _ in range(tasks)]

    def make(counts: list[int]) -> Worker:
        async def worker(index: int) -> None:
            stream, reader = streams[index], hiredis.Reader()
            key = f"bench:plain:{index}"
            while True:
                await stream.send_all(pack(("EVALSHA", SCRIPT.sha, 1, key)))
                while reader.gets() is False:
                    reader.feed(await stream.receive_some(65536))
                counts[index] += 1

        return worker

    try:
        return await run_tasks(tasks, seconds, make)
    finally:
        for stream in streams:
            await trio.aclose_forcefully(stream)


async def plain_pipelined(address: RedisAddress, tasks: int, seconds: float) -> float:
    """One shared socket, commands pipelined, a reader task waking callers: our layer, bare."""
    stream = await trio.open_tcp_stream(address.host, address.port)
    # A slot is [reply, parked task]; the reader fills it and wakes the task if it is parked.
    waiting: deque[list[Any]] = deque()
    outgoing: list[bytes] = []
    writing = False
    unset = object()

    async def read() -> None:
        reader = hiredis.Reader()
        while True:
            reader.feed(await stream.receive_some(65536))
            while (reply := reader.gets()) is not False:
                slot = waiting.popleft()
                slot[0] = reply
                if slot[1] is not None:
                    trio.lowlevel.reschedule(slot[1])

    async def call(command: bytes) -> Any:
        nonlocal writing
        slot = [unset, None]
        waiting.append(slot)
        outgoing.append(command)
        if not writing:
            writing = True
            try:
                while outgoing:
                    data = b"".join(outgoing)
                    outgoing.clear()
                    await stream.send_all(data)
            finally:
                writing = False
        if slot[0] is unset:
            slot[1] = trio.lowlevel.current_task()

            def abort(_: Any) -> trio.lowlevel.Abort:
                slot[1] = None  # cancelled at the end of a run: the reply is dropped
                return trio.lowlevel.Abort.SUCCEEDED

            await trio.lowlevel.wait_task_rescheduled(abort)
        return slot[0]

    def make(counts: list[int]) -> Worker:
        async def worker(index: int) -> None:
            key = f"bench:pipelined:{index}"
            while True:
                await call(pack(("EVALSHA", SCRIPT.sha, 1, key)))
                counts[index] += 1

        return worker

    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(read)
        rate = await run_tasks(tasks, seconds, make)
        nursery.cancel_scope.cancel()
    return rate


async def coredis_client(address: RedisAddress, tasks: int, seconds: float) -> float:
    import coredis

    client: Any = coredis.Redis(host=address.host, port=address.port)
    async with client:

        def make(counts: list[int]) -> Worker:
            async def worker(index: int) -> None:
                keys = [f"bench:coredis:{index}"]
                while True:
                    await client.evalsha(SCRIPT.sha, keys=keys)
                    counts[index] += 1

            return worker

        return await run_tasks(tasks, seconds, make)


CLIENTS = {
    "project": project,
    "plain": plain,
    "plain_pipelined": plain_pipelined,
    "coredis": coredis_client,
}


async def measure(address: RedisAddress, tasks: int, seconds: float, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[float]] = {name: [] for name in CLIENTS}
    for round_ in range(rounds):
        for name, client in CLIENTS.items():
            runs[name].append(await client(address, tasks, seconds))
            print(f"round {round_ + 1}/{rounds} {name}: {runs[name][-1]:,.0f}/s", file=sys.stderr)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    return {
        "workload": f"EVALSHA ({SCRIPT_SOURCE.decode()}) from {tasks} concurrent tasks",
        "calls_per_second": runs,
        "median": medians,
        # The target compares against the faster of the two bare hiredis loops.
        "project_vs_plain": medians["project"] / max(medians["plain"], medians["plain_pipelined"]),
        "project_vs_coredis": medians["project"] / medians["coredis"],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if args.redis_url:
        return await measure(parse_redis_url(args.redis_url), args.tasks, args.seconds, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp))
        redis.start()
        try:
            return await measure(redis.address, args.tasks, args.seconds, args.rounds)
        finally:
            redis.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", default=None, help="a Redis you own (keys bench:* are written)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    started = time.monotonic()
    result = trio.run(main_async, parse_args(argv))
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
