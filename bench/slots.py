"""Server time of a month-long slot search for many users (frame in -> reply frame out).

    python bench/slots.py [--users 50] [--runs 300]

Starts a private redis-server, seeds users in several zones with weekly patterns, explicit
days and meetings, then times the server's own request path (decode, Redis round trip,
zone and bitmap math, encode) for meeting:getMeetingTimeSlotsForMonth and
meeting:getTimeSlotsForMeeting. Writes bench/results/slots.json. With two or more cores, the
timed code runs on the first and Redis on the second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import trio

from roomful_meetings.app import build_services, prepare_redis
from roomful_meetings.config import Settings
from roomful_meetings.protocol.payloads import RoomIn, UserIn
from roomful_meetings.service.context import Caller
from roomful_meetings.service.dispatch import dispatch
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import open_redis

ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Los_Angeles",
    "Asia/Kolkata",
]


async def request(services, user_id: str, endpoint: str, data: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    """Send one frame through the server's request path; seeding must not fail silently."""
    reply = await dispatch(services, Caller(user_id), json.dumps({"endpoint": endpoint, "data": data}))
    assert b'"status":false' in reply, reply[:300]


def interval(start: str, end: str) -> dict[str, str]:
    return {"startDate": start, "endDate": end}


async def seed(services, users: int, per_user: int, rng: random.Random, series: int = 0) -> list[str]:  # type: ignore[no-untyped-def]
    ids = [f"user{i}" for i in range(users)]
    await services.catalog.upsert_users(
        [UserIn(id=u, timeZone=ZONES[i % len(ZONES)]) for i, u in enumerate(ids)]
    )
    await services.catalog.upsert_rooms([RoomIn(id="bench-room", networkId="n", title="Bench")])
    for i, uid in enumerate(ids):  # working hours on weekdays, and three afternoons off
        start = rng.choice([7, 8, 9])
        weekly = {
            "status": "Available",
            "repetition": 0b0111110,
            "dates": [interval(f"2030-03-04T{start:02d}:00:00Z", f"2030-03-04T{start + 9:02d}:00:00Z")],
        }
        await request(
            services,
            uid,
            "meeting:setUserAvailability",
            {"availability": weekly, "localDate": "2030-03-04T12:00:00Z", "timeZone": ZONES[i % len(ZONES)]},
        )
        for day in rng.sample(range(1, 29), 3):
            off = {
                "status": "NotAvailable",
                "dates": [interval(f"2030-03-{day:02d}T12:00:00Z", f"2030-03-{day:02d}T14:00:00Z")],
            }
            await request(
                services,
                uid,
                "meeting:setUserAvailability",
                {"availability": off, "localDate": f"2030-03-{day:02d}T12:00:00Z"},
            )
    for uid in ids:  # each user organizes `per_user` meetings in March, with 5 invitees each
        for _ in range(per_user):
            day, hour = rng.randrange(1, 29), rng.randrange(0, 23)
            await request(
                services,
                uid,
                "meeting:createMeeting",
                {
                    "sourceType": "room",
                    "sourceIds": ["bench-room"],
                    "subject": "bench",
                    "startDate": f"2030-03-{day:02d}T{hour:02d}:00:00Z",
                    "endDate": f"2030-03-{day:02d}T{hour:02d}:45:00Z",
                    "invitedUserIds": rng.sample(ids, 5),
                },
            )
        for _ in range(series):  # weekly, never ending, started a year before the month asked
            day, hour = rng.randrange(1, 8), rng.randrange(6, 18)
            await request(
                services,
                uid,
                "meeting:createMeeting",
                {
                    "sourceType": "room",
                    "sourceIds": ["bench-room"],
                    "subject": "weekly",
                    "startDate": f"2029-03-{day:02d}T{hour:02d}:00:00Z",
                    "endDate": f"2029-03-{day:02d}T{hour:02d}:30:00Z",
                    "invitedUserIds": rng.sample([u for u in ids if u != uid], 4),
                    "recurrence": {"rule": "FREQ=WEEKLY", "timeZone": ZONES[ids.index(uid) % len(ZONES)]},
                },
            )
    return ids


def pin(redis_server: RedisProcess) -> None:
    """Server code on the first core, Redis on the second, as a deployment would have it."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2 and redis_server.proc is not None:
        os.sched_setaffinity(redis_server.proc.pid, {cores[1]})
        os.sched_setaffinity(0, {cores[0]})


async def time_endpoint(  # type: ignore[no-untyped-def]
    services, caller: Caller, frame: str, runs: int, *, forget: str = ""
) -> list[float]:
    """Server time of `runs` requests. Before each one, `forget="busy"` empties the
    instance's cached busy indexes (every asked user's meetings changed since the last
    search) and `forget="all"` its cached bitmaps too (a fresh instance, or a group of
    people nobody searched for before)."""
    samples = []
    for _ in range(runs):
        if forget:
            services.availability.forget_cached(bitmaps=forget == "all")
        began = time.perf_counter()
        reply = await dispatch(services, caller, frame)
        samples.append((time.perf_counter() - began) * 1000)
        assert b'"status":false' in reply, reply[:300]
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 3),
        "min_ms": round(ordered[0], 3),
    }


async def main(users: int, runs: int, per_user: int, series: int = 0) -> dict[str, object]:
    rng = random.Random(42)
    redis_server = RedisProcess(Path(tempfile.mkdtemp(prefix="bench-redis-")))
    redis_server.start()
    pin(redis_server)
    try:
        settings = Settings(redis_url=redis_server.url, key_prefix=f"bench{per_user}-{series}:")
        async with open_redis(redis_server.address) as redis:
            services = build_services(settings, redis)
            await prepare_redis(redis, services.keys)
            ids = await seed(services, users, per_user, rng, series)
            caller = Caller(ids[0])
            asked = [{"roomful": u} for u in ids[1:]]
            month = json.dumps(
                {
                    "endpoint": "meeting:getMeetingTimeSlotsForMonth",
                    "data": {"users": asked, "localDate": "2030-03-15T12:00:00+01:00"},
                }
            )
            day = json.dumps(
                {
                    "endpoint": "meeting:getTimeSlotsForMeeting",
                    "data": {"users": asked, "localDate": "2030-03-15T12:00:00+01:00"},
                }
            )
            await time_endpoint(services, caller, month, 20)  # warm caches (zone tables)
            return {
                "users": users,
                "meetings_organized_per_user": per_user,
                "meetings_per_user_in_month": per_user * 6,
                "weekly_series_per_user": series * 5,
                "month": summary(await time_endpoint(services, caller, month, runs)),
                "month_busy_changed": summary(
                    await time_endpoint(services, caller, month, runs, forget="busy")
                ),
                "month_cold": summary(await time_endpoint(services, caller, month, runs, forget="all")),
                "day": summary(await time_endpoint(services, caller, day, runs)),
            }
    finally:
        redis_server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument(
        "--per-user",
        type=int,
        nargs="+",
        default=[4, 20],
        help="meetings each user organizes in the month (each has 5 invitees): "
        "4 is about one meeting per working day per person, 20 about six",
    )
    parser.add_argument(
        "--series",
        type=int,
        default=2,
        help="weekly never-ending series each user organizes (4 invitees each: 2 is 10 series per person),"
        " measured as one more scenario beside 4 meetings per user",
    )
    args = parser.parse_args()
    scenarios = [trio.run(main, args.users, args.runs, n) for n in args.per_user]
    if args.series:
        scenarios.append(trio.run(main, args.users, args.runs, 4, args.series))
    result = {"runs": args.runs, "scenarios": scenarios}
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "slots.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
