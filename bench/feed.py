"""Server time of one calendar feed: 500 meetings and 20 series (contract 11, <= 50 ms).

    python bench/feed.py [--meetings 500] [--series 20] [--runs 50]

Starts a private redis-server, gives one user `--meetings` single meetings spread over the
feed's range (5 invitees each, in rooms with titles) and `--series` weekly series in zones
with clock changes (some never ending, some with cancelled, moved and declined instances),
then times what GET /calendar/<token>.ics costs the server: the token lookup, the reads of
the meetings and the series, the people and places read, building the iCalendar text and
its ETag (service/feeds.py render_feed). "feed": what the instance keeps (meetings as read,
written VEVENTs) kept; "feed_cold": forgotten before each fetch (a fresh instance, or every
meeting changed; the process-wide caches of zones, rule expansions and day texts stay, as
they do for every feed an instance serves). Each gives server time, this process's CPU time
and Redis's CPU time a fetch (the machine is shared: CPU time moves with the load too, but
less than wall time). "feed_first_ms": the process's very first fetch, once. Prints one
JSON line and writes bench/results/feed.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio

from roomful_meetings.app import build_services, prepare_redis
from roomful_meetings.config import Settings
from roomful_meetings.protocol.payloads import RoomIn, UserIn
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.dispatch import dispatch
from roomful_meetings.service.feeds import forget_kept, render_feed
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import Redis, open_redis

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Europe/Berlin"]
NOW = datetime(2030, 3, 1, 12, tzinfo=UTC)
OWNER = "owner"


async def request(services: Services, user_id: str, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
    reply = await dispatch(
        services, Caller(user_id), json.dumps({"endpoint": endpoint, "data": data}, default=str)
    )
    assert b'"status":false' in reply, reply[:300]
    answer: dict[str, Any] = json.loads(reply)["data"]
    return answer


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:00Z")


async def seed(services: Services, meetings: int, series: int, rng: random.Random) -> str:
    people = [f"p{i}" for i in range(40)]
    await services.catalog.upsert_users(
        [UserIn(id=OWNER, firstName="Olive", email="olive@x.test")]
        + [UserIn(id=u, firstName=f"Person {u}", email=f"{u}@x.test") for u in people]
    )
    await services.catalog.upsert_rooms([RoomIn(id=f"room{i}", title=f"Room {i}") for i in range(10)])
    for _ in range(meetings):
        start = NOW - timedelta(days=30) + timedelta(minutes=15 * rng.randrange(0, 390 * 96))
        await request(
            services,
            rng.choice([OWNER, *people[:5]]),
            "meeting:createMeeting",
            {
                "sourceType": "room",
                "sourceIds": [f"room{rng.randrange(10)}"],
                "subject": f"Meeting {rng.randrange(10**6)}",
                "description": "Agenda: " + "x" * rng.randrange(0, 200),
                "startDate": stamp(start),
                "endDate": stamp(start + timedelta(minutes=rng.choice([30, 60, 90]))),
                "invitedUserIds": [OWNER, *rng.sample(people, 5)],
            },
        )
    for i in range(series):
        start = NOW - timedelta(days=rng.randrange(0, 60), hours=rng.randrange(0, 12))
        rule = "FREQ=WEEKLY" if i % 2 else "FREQ=WEEKLY;COUNT=60"
        made = await request(
            services,
            OWNER,
            "meeting:createMeeting",
            {
                "sourceType": "room",
                "sourceIds": [f"room{i % 10}"],
                "subject": f"Series {i}",
                "startDate": stamp(start),
                "endDate": stamp(start + timedelta(minutes=45)),
                "invitedUserIds": rng.sample(people, 6),
                "recurrence": {"rule": rule, "timeZone": ZONES[i % len(ZONES)]},
            },
        )
        listed = await request(
            services,
            OWNER,
            "meeting:listUserMeetings",
            {"startDate": stamp(NOW), "endDate": stamp(NOW + timedelta(days=200))},
        )
        mine = [
            m["meetingId"] for m in listed["meetings"] if m.get("seriesId") == made["meeting"]["meetingId"]
        ]
        await request(services, OWNER, "meeting:deleteMeeting", {"meetingId": mine[1]})
        await request(services, OWNER, "meeting:updateMeeting", {"meetingId": mine[2], "subject": "Moved on"})
    url: str = (await request(services, OWNER, "meeting:getCalendarFeed", {}))["url"]
    return url


def summary(samples: list[float], cpu: list[float], redis_cpu: float) -> dict[str, float]:
    """Server time (wall), this process's CPU time, and the Redis server's CPU time (a mean
    per fetch: INFO cpu before and after), in ms."""
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 2),
        "min_ms": round(ordered[0], 2),
        "cpu_median_ms": round(statistics.median(cpu), 2),
        "redis_cpu_ms": round(redis_cpu / len(samples), 2),
    }


async def redis_cpu_ms(redis: Redis) -> float:
    """CPU time the Redis server's main thread has used so far (INFO cpu), in ms."""
    text = bytes(await redis.execute("INFO", "cpu")).decode()
    info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return 1000 * sum(float(info[f"used_cpu_{kind}_main_thread"]) for kind in ("sys", "user"))


async def fetches(services: Services, token: str, count: int, *, fresh: bool) -> dict[str, float]:
    """`count` fetches of the feed, each by a fresh instance (nothing kept) or not."""
    walls: list[float] = []
    cpus: list[float] = []
    redis_before = await redis_cpu_ms(services.meetings.redis)
    for _ in range(count):
        if fresh:
            forget_kept()
        began, cpu = time.perf_counter(), time.process_time()
        found = await render_feed(services, token, NOW.timestamp())
        walls.append((time.perf_counter() - began) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        assert found is not None
    return summary(walls, cpus, await redis_cpu_ms(services.meetings.redis) - redis_before)


async def main(meetings: int, series: int, runs: int) -> dict[str, object]:
    redis_server = RedisProcess(Path(tempfile.mkdtemp(prefix="bench-redis-")))
    redis_server.start()
    try:
        settings = Settings(
            redis_url=redis_server.url, key_prefix="benchfeed:", public_base_url="https://meet.example"
        )
        async with open_redis(redis_server.address) as redis:
            services = build_services(settings, redis)
            await prepare_redis(redis, services.keys)
            url = await seed(services, meetings, series, random.Random(7))
            token = url.rsplit("/", 1)[1].removesuffix(".ics")
            began = time.perf_counter()  # the process's first fetch: nothing kept or cached
            found = await render_feed(services, token, NOW.timestamp())
            first = round((time.perf_counter() - began) * 1000, 2)
            assert found is not None
            await fetches(services, token, 2, fresh=False)  # warm up
            warm = await fetches(services, token, runs, fresh=False)
            cold = await fetches(services, token, runs // 5, fresh=True)  # a fresh instance each
            return {
                "meetings": meetings,
                "series": series,
                "vevents": found.body.count(b"BEGIN:VEVENT"),
                "bytes": len(found.body),
                "feed": warm,
                "feed_cold": cold,
                "feed_first_ms": first,
            }
    finally:
        redis_server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meetings", type=int, default=500)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    result = trio.run(main, args.meetings, args.series, args.runs)
    print(json.dumps(result))
    out = Path(__file__).parent / "results" / "feed.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
