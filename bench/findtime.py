"""Server CPU of meeting:findMeetingTimes (find50's requests) in process: repeated, after
some attendees' calendars changed, and cold.

    .venv/bin/python bench/findtime.py [--runs 200] [--changed 1 5]

Starts a private redis-server and one `roomful-meetings serve` to seed bench/run.py's data
set (the same users, availability and meetings), then sends find50's requests (the frames
of bench/loadgen.py: 10 organizers, as its 10 connections, in turn) through the server's
request path in this process (`dispatch`: decode, Redis, search, encode; no websocket),
and reports per request the CPU time of this process (so the machine's other load counts
far less than in wall time), the wall time and the Redis commands, for:

- repeated: the same searches again (what find50 measures);
- changed N: before each search, N of its attendees accept or decline the seeded
  invitation in the window through another instance (their busy versions move on);
- cold: each search on a new instance, with every cache of the process emptied too (the
  functions' lru caches: zone tables, window bitmaps; parsed series): a fresh process.

Writes bench/results/findtime.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from loadgen import frames_for
from run import PREFIX, RESULTS, Server, redis_info, seed

from roomful_meetings.app import build_services, prepare_redis
from roomful_meetings.config import Settings
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.dispatch import dispatch
from roomful_meetings.service.meetings import accept_meeting, decline_meeting
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import open_redis

ORGANIZERS = 10  # find50's connections


def forget_process_caches() -> None:
    """Empty what the package caches per process: every lru_cache, and the parsed series."""
    for name, module in list(sys.modules.items()):
        if name.startswith("roomful_meetings"):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()
    from roomful_meetings.storage import series

    series._states.clear()
    series._windows.clear()
    series._own.clear()


COUNTED = 20  # searches with INFO around each, for the Redis commands


async def measure(
    port: int,
    search: Callable[[int], Awaitable[bytes]],
    runs: int,
    before: Callable[[int], Awaitable[None]] | None = None,
) -> dict[str, float]:
    """Median CPU and wall microseconds of `runs` searches; then Redis commands per search
    over COUNTED more (INFO around each, less the INFO itself: apart, because reading INFO
    between timed searches made them slower). `before` runs outside of both."""
    cpu, wall, commands = [], [], 0
    for n in range(runs + COUNTED):
        if before is not None:
            await before(n)
        counting = n >= runs
        calls = redis_info(port)[0] if counting else 0
        began_cpu, began_wall = time.process_time(), time.perf_counter()
        reply = await search(n)
        if counting:
            commands += redis_info(port)[0] - calls - 1
        else:
            cpu.append((time.process_time() - began_cpu) * 1e6)
            wall.append((time.perf_counter() - began_wall) * 1e6)
        assert b'"status":false' in reply, reply[:300]
    return {
        "cpu_us_median": round(statistics.median(cpu)),
        "cpu_us_mean": round(statistics.mean(cpu)),
        "wall_us_median": round(statistics.median(wall)),
        "redis_commands": round(commands / COUNTED, 1),
    }


async def main(runs: int, changed: list[int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="roomful-findtime-") as tmp:
        redis_server = RedisProcess(Path(tmp) / "redis")
        redis_server.start()
        try:
            server = Server(redis_server.url, Path(tmp))
            try:
                data = await seed(server.url)
            finally:
                server.stop()
            return await measure_all(redis_server, data, runs, changed)
        finally:
            redis_server.stop()


async def measure_all(
    redis_server: RedisProcess, data: dict[str, Any], runs: int, changed: list[int]
) -> dict[str, Any]:
    settings = Settings(redis_url=redis_server.url, key_prefix=PREFIX, data_dir=Path("unused"))
    frames = [frames_for("find50", data, i) for i in range(ORGANIZERS)]
    users: list[str] = data["users"]
    async with open_redis(redis_server.address) as redis:
        services = build_services(settings, redis)
        other = build_services(settings, redis)  # where the changes are made
        await prepare_redis(redis, services.keys)

        def on(instance: Services) -> Callable[[int], Awaitable[bytes]]:
            async def search(n: int) -> bytes:
                user, frame = frames[n % ORGANIZERS]
                return await dispatch(instance, Caller(user), frame(n, str(n)))

            return search

        accepted: set[str] = set()

        def flips(count: int) -> Callable[[int], Awaitable[None]]:
            async def flip(n: int) -> None:
                organizer = n % ORGANIZERS  # connection i asks users i+1 .. i+50
                for k in range(count):
                    uid = users[(organizer + 1 + (7 * n + 11 * k) % 50) % len(users)]
                    invitation = p.MeetingRef(meetingId=data["rsvp_meetings"][users.index(uid)])
                    answer = decline_meeting if uid in accepted else accept_meeting
                    accepted.symmetric_difference_update({uid})
                    await answer(other, Caller(uid), invitation)

            return flip

        for n in range(2 * ORGANIZERS):  # warm: each organizer's search cached
            await on(services)(n)
        out = {"repeated": await measure(redis_server.port, on(services), runs)}
        for count in changed:
            out[f"changed_{count}"] = await measure(redis_server.port, on(services), runs, flips(count))

        async def fresh(n: int) -> None:
            nonlocal services
            services = build_services(settings, redis)
            forget_process_caches()
            gc.collect()  # the dropped instance's caches, freed here rather than in a search

        out["cold"] = await measure(redis_server.port, lambda n: on(services)(n), max(runs // 10, 5), fresh)
        return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--changed", type=int, nargs="*", default=[1, 5])
    args = parser.parse_args()
    result = {"runs": args.runs, **trio.run(main, args.runs, args.changed)}
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "findtime.json").write_text(json.dumps(result, indent=2) + "\n")
