"""What one request costs when its people are in many recurring series, and how long another
user's getMeeting waits behind it on the same event loop.

    .venv/bin/python bench/series_cost.py [--series 8 40 100 300] [--runs 3] [--profile FILE]

Starts a private redis-server and, in this process, the stores of one instance. Seeds 100
users and daily never-ending series, each with all 100 as participants (organizers in turn,
a tenth of the invitees having accepted), then for each series count asked, with every
cache of the process emptied before each request (a cold instance: an attacker can always
ask a window nobody asked before), times through the server's request path (`dispatch`):

- counts: listUserMeetingCounts at the largest offset (every series counted ten years on);
- find: findMeetingTimes, the organizer and 99 attendees, 62 days at step 5;
- slots: getMeetingTimeSlotsForMonth for 99 users and the caller;
- create: createMeeting with rejectConflicts, a daily series for all 100 people at a time
  nobody is busy (every participant's every instance in 366 days is looked at), deleted
  again afterwards.

For each: the request's CPU time and wall time (medians), its answer (its error code when
it fails), and the longest a getMeeting of another user, sent every millisecond meanwhile,
took: how long the instance served no one else. Writes bench/results/series-cost.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import trio
from findtime import forget_process_caches

from roomful_meetings.app import build_services, prepare_redis
from roomful_meetings.config import Settings
from roomful_meetings.protocol.payloads import RoomIn, UserIn
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.dispatch import dispatch
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import open_redis

RESULTS = Path(__file__).parent / "results"
PEOPLE = 100
ZONES = ("Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo")
DAY0 = "2030-01-07"  # a Monday; the series start here, every request asks from here on


def frame(endpoint: str, data: dict[str, Any]) -> str:
    return json.dumps({"endpoint": endpoint, "data": data, "event": {"id": f"e{time.monotonic_ns()}"}})


async def call(services: Services, user: str, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(await dispatch(services, Caller(user), frame(endpoint, data)))
    return reply


async def seed_series(services: Services, users: list[str], first: int, last: int, own: bool) -> None:
    """Series first..last-1: daily from DAY0, 30 minutes at 06:00 UTC + 10 minutes per series
    (mod 12 hours), organized by users in turn, everyone invited; with `own`, series
    first..last-1 of every user, each organized by that user alone (no series shared)."""
    for k in range(first, last):
        for organizer in users if own else [users[k % PEOPLE]]:
            await seed_one(services, users, k, organizer, own)


async def seed_one(services: Services, users: list[str], k: int, organizer: str, own: bool) -> None:
    """One daily series, number k, of `organizer` (with `own`, no invitee)."""
    minute = 6 * 60 + (10 * k) % (12 * 60)
    begins = f"{DAY0}T{minute // 60:02d}:{minute % 60:02d}:00Z"
    ends_at = minute + 30
    ends = f"{DAY0}T{ends_at // 60:02d}:{ends_at % 60:02d}:00Z"
    reply = await call(
        services,
        organizer,
        "meeting:createMeeting",
        {
            "sourceType": "room",
            "sourceIds": ["room"],
            "subject": f"daily {k}",
            "startDate": begins,
            "endDate": ends,
            "invitedUserIds": [] if own else [u for u in users if u != organizer],
            "recurrence": {"rule": "FREQ=DAILY", "timeZone": "UTC"},
        },
    )
    assert not reply["error"]["status"], reply["error"]
    sid = reply["data"]["meeting"]["meetingId"]
    for i, uid in enumerate([] if own else users):  # a tenth accept
        if uid != organizer and (i + k) % 10 == 0:
            answer = await call(services, uid, "meeting:acceptMeetingRequest", {"meetingId": sid})
            assert not answer["error"]["status"], answer["error"]


def scenarios(users: list[str]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    others = [{"roomful": u} for u in users[1:]]
    return {
        "counts": (
            users[0],
            "meeting:listUserMeetingCounts",
            {"localDateNow": f"{DAY0}T12:00:00Z", "offset": 100_000, "size": 366, "timeZone": ZONES[0]},
        ),
        "find": (
            users[0],
            "meeting:findMeetingTimes",
            {
                "attendees": others,
                "startDate": f"{DAY0}T00:00:00Z",
                "endDate": "2030-03-10T00:00:00Z",
                "duration": 30,
                "step": 5,
                "minimumAttendeePercentage": 0,
                "timeZone": ZONES[0],
            },
        ),
        "slots": (
            users[0],
            "meeting:getMeetingTimeSlotsForMonth",
            {"users": others, "localDate": "2030-02-15T12:00:00Z", "timeZone": ZONES[0]},
        ),
        "create": (
            users[0],
            "meeting:createMeeting",
            {
                "sourceType": "room",
                "sourceIds": ["room"],
                "subject": "checked",
                "startDate": f"{DAY0}T19:00:00Z",
                "endDate": f"{DAY0}T19:30:00Z",
                "invitedUserIds": users[1:],
                "recurrence": {"rule": "FREQ=DAILY", "timeZone": "UTC"},
                "rejectConflicts": True,
            },
        ),
    }


async def timed(
    services: Services, user: str, endpoint: str, data: dict[str, Any], probe: tuple[str, str]
) -> tuple[float, float, float, dict[str, Any]]:
    """CPU and wall seconds of one request, the longest getMeeting (by `probe`: user,
    meeting id) answered meanwhile, and the reply."""
    waits: list[float] = []
    done = trio.Event()

    async def other_user() -> None:
        get = frame("meeting:getMeeting", {"meetingId": probe[1]})
        while not done.is_set():
            # from when it wants to send (its sleep over) to its answer
            wanted = time.perf_counter() + 0.001
            await trio.sleep(0.001)
            await dispatch(services, Caller(probe[0]), get)
            waits.append(time.perf_counter() - wanted)

    reply: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(other_user)
        await trio.sleep(0.01)
        began_cpu, began_wall = time.process_time(), time.perf_counter()
        reply = json.loads(await dispatch(services, Caller(user), frame(endpoint, data)))
        cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began_wall
        done.set()
    return cpu, wall, max(waits, default=0.0), reply


async def measure(
    services: Services,
    users: list[str],
    count: int,
    runs: int,
    probe: tuple[str, str],
    profiler: cProfile.Profile | None,
    only: list[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (user, endpoint, data) in scenarios(users).items():
        if only and name not in only:
            continue
        cpu, wall, stall, codes = [], [], [], set()
        for _ in range(runs):
            forget_process_caches()
            services.availability.forget_cached()
            services.searches.people.clear()
            services.searches.replies.clear()
            if profiler is not None:
                profiler.enable()
            c, w, s, reply = await timed(services, user, endpoint, data, probe)
            if profiler is not None:
                profiler.disable()
            cpu.append(c)
            wall.append(w)
            stall.append(s)
            error = reply["error"]
            codes.add(error["code"] if error["status"] else 0)
            if name == "create" and not error["status"]:  # leave the world as it was
                sid = reply["data"]["meeting"]["meetingId"]
                gone = await call(services, user, "meeting:deleteMeeting", {"meetingId": sid})
                assert not gone["error"]["status"], gone["error"]
            if error["status"] and error["code"] not in (400, 409):
                raise AssertionError(reply["error"])
        out[name] = {
            "cpu_s": round(statistics.median(cpu), 3),
            "wall_s": round(statistics.median(wall), 3),
            "longest_get_s": round(statistics.median(stall), 3),
            "answer": sorted(codes),
        }
        print(f"{count:4d} series  {name:7s} {out[name]}", flush=True)
    return out


async def main(
    counts: list[int], runs: int, profile: str | None, only: list[str], own: bool
) -> dict[str, Any]:
    redis_dir = Path(tempfile.mkdtemp(prefix="bench-series-"))
    redis_server = RedisProcess(redis_dir)
    redis_server.start()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2 and redis_server.proc is not None:
        os.sched_setaffinity(redis_server.proc.pid, {cores[1]})
        os.sched_setaffinity(0, {cores[0]})
    profiler = cProfile.Profile() if profile else None
    try:
        settings = Settings(redis_url=redis_server.url, key_prefix="bench-series:", data_dir=redis_dir)
        async with open_redis(redis_server.address) as redis:
            services = build_services(settings, redis)
            await prepare_redis(redis, services.keys)
            users = [f"user{i}" for i in range(PEOPLE)]
            await services.catalog.upsert_users(
                [UserIn(id=u, timeZone=ZONES[i % len(ZONES)]) for i, u in enumerate(users)]
            )
            await services.catalog.upsert_rooms([RoomIn(id="room", networkId="n", title="Room")])
            single = await call(
                services,
                "probe",
                "meeting:createMeeting",
                {
                    "sourceType": "room",
                    "sourceIds": ["room"],
                    "subject": "probe",
                    "startDate": f"{DAY0}T10:00:00Z",
                    "endDate": f"{DAY0}T11:00:00Z",
                },
            )
            probe = ("probe", single["data"]["meeting"]["meetingId"])
            results: dict[str, Any] = {}
            made = 0
            for count in sorted(counts):
                await seed_series(services, users, made, count, own)
                made = count
                label = f"{count} own" if own else str(count)
                results[label] = await measure(services, users, count, runs, probe, profiler, only)
    finally:
        redis_server.stop()
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    return results


def report(results: dict[str, Any]) -> str:
    lines = [
        "| series | request | CPU s | wall s | longest getMeeting meanwhile, s | answer |",
        "|---|---|---|---|---|---|",
    ]
    for count, by_name in results.items():
        for name, row in by_name.items():
            cells = [count, name, row["cpu_s"], row["wall_s"], row["longest_get_s"], row["answer"]]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, nargs="+", default=[8, 40, 100, 300])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", help="write cProfile stats of the timed requests here")
    parser.add_argument(
        "--own", action="store_true", help="each person in --series series of their own (none shared)"
    )
    parser.add_argument("--only", nargs="*", default=[], help="of counts, find, slots, create")
    parser.add_argument("--out", default=str(RESULTS / "series-cost.json"))
    args = parser.parse_args()
    found = trio.run(main, args.series, args.runs, args.profile, args.only, args.own)
    Path(args.out).write_text(json.dumps(found, indent=2) + "\n")
    print(report(found))
