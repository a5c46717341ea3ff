"""Soak: many clients on two real server processes, random disconnects, then invariants.

    python bench/soak.py [--users 20] [--operations 3000] [--seed 1] [--chaos]

Starts a private redis-server and two `roomful-meetings serve` processes on it. Each user
keeps one connection on a random instance, makes random changes (create with invitees,
move, rename, re-invite, accept, decline, delete), and now and then drops its connection
and reconnects to a random instance with `since=<last event id it saw>`. At the end it
checks that
  - every meeting is indexed for exactly its participants, with valid statuses, and the
    busy and source indexes agree (roomful_meetings.storage.consistency),
  - every client saw every event of its user exactly once (its user's stream, in order).
With --chaos, during the run Redis is stopped and restarted (its data persists, as in
production) and one server instance gets SIGTERM and is started again on its port; clients
meet 503s and 1001 closes and simply go on, reconnecting with since=.
Writes bench/results/soak.json (soak-chaos.json with --chaos). Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from roomful_meetings.auth import mint_token
from roomful_meetings.client import Client, connect
from roomful_meetings.errors import ApiError
from roomful_meetings.storage.consistency import check_invariants
from roomful_meetings.storage.embedded import RedisProcess, free_port
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import open_redis

SECRET = "soak-secret-0123456789abcdef0123456789abcdef"
PREFIX = "soak:"


def start_instance(redis_url: str, data_dir: Path, port: int = 0) -> tuple[subprocess.Popen[bytes], int]:
    port = port or free_port()
    env = {
        **os.environ,
        "ROOMFUL_JWT_SECRET": SECRET,
        "ROOMFUL_KEY_PREFIX": PREFIX,
        "ROOMFUL_LOG_LEVEL": "warning",
        "ROOMFUL_RATE_PER_SECOND": "10000",
        "ROOMFUL_RATE_BURST": "10000",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roomful_meetings",
            "serve",
            "--port",
            str(port),
            "--redis-url",
            redis_url,
            "--data-dir",
            str(data_dir),
        ],
        env=env,
    )
    return proc, port


class User:
    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[str] = []
        self.last = ""
        self.reconnects = 0

    def note(self, event_id: str | None) -> None:
        if event_id and event_id[0].isdigit():
            self.seen.append(event_id)
            self.last = event_id


async def listen(client: Client, user: User) -> None:
    async for push in client.pushes():
        if push.endpoint and push.endpoint.startswith("meeting:on") and push.event:
            user.note(push.event.id)


async def act(client: Client, user: User, names: list[str], mids: list[str], rng: random.Random) -> None:
    choice = rng.random()
    others = [n for n in names if n != user.name]
    try:
        if choice < 0.3 or not mids:
            start = 1_900_000_000_000 + rng.randrange(0, 60 * 24 * 28) * 60_000
            data = {
                "sourceType": "room",
                "sourceIds": ["soak-room"],
                "subject": "soak",
                "startDate": start,
                "endDate": start + rng.choice([15, 30, 60]) * 60_000,
                "invitedUserIds": rng.sample(others, 3),
            }
            mids.append((await client.call("meeting:createMeeting", data))["meeting"]["meetingId"])
        elif choice < 0.45:
            start = 1_900_000_000_000 + rng.randrange(0, 60 * 24 * 28) * 60_000
            await client.call(
                "meeting:updateMeeting",
                {"meetingId": rng.choice(mids), "startDate": start, "endDate": start + 3_600_000},
            )
        elif choice < 0.55:
            await client.call(
                "meeting:updateMeeting",
                {"meetingId": rng.choice(mids), "invitedUserIds": rng.sample(others, rng.randint(1, 4))},
            )
        elif choice < 0.85:
            endpoint = rng.choice(["meeting:acceptMeetingRequest", "meeting:declineMeetingRequest"])
            await client.call(endpoint, {"meetingId": rng.choice(mids)})
        else:
            mid = rng.choice(mids)
            await client.call("meeting:deleteMeeting", {"meetingId": mid})
    except ApiError as exc:
        # 403/404: racing with others' changes; 503: Redis is restarting (chaos)
        if exc.code not in (403, 404, 503):
            raise


async def run_user(
    user: User,
    names: list[str],
    ports: list[int],
    mids: list[str],
    operations: int,
    rng: random.Random,
    progress: list[int],
) -> None:
    token = mint_token(SECRET, user.name)
    done = 0
    while done < operations:
        url = f"ws://127.0.0.1:{rng.choice(ports)}"
        try:
            async with connect(url, token, since=user.last) as client, trio.open_nursery() as nursery:
                nursery.start_soon(listen, client, user)
                burst = rng.randint(5, 60)
                for _ in range(min(burst, operations - done)):
                    await act(client, user, names, mids, rng)
                    done += 1
                    progress[0] += 1
                await trio.sleep(rng.random() * 0.05)
                nursery.cancel_scope.cancel()  # drop the connection mid-stream
        except (OSError, HandshakeError, ConnectionClosed, trio.BrokenResourceError):
            await trio.sleep(0.2)  # that instance is restarting, or refused us (503): try again
        except BaseExceptionGroup as group:
            if not group.subgroup((OSError, HandshakeError, ConnectionClosed, trio.BrokenResourceError)):
                raise
            await trio.sleep(0.2)
        user.reconnects += 1
    # a last connection to collect what is still on its way (retried: with --chaos, Redis
    # or the instance may still be restarting when a user is done)
    with trio.fail_after(60):
        while True:
            try:
                async with connect(f"ws://127.0.0.1:{ports[0]}", token, since=user.last) as client:
                    with trio.move_on_after(2):
                        await listen(client, user)
                return
            except (OSError, HandshakeError, ConnectionClosed, trio.BrokenResourceError):
                await trio.sleep(0.2)


async def chaos(
    redis: RedisProcess, instances: list[tuple[subprocess.Popen[bytes], int]], folder: Path, events: list[str]
) -> None:
    await trio.sleep(1.0)
    redis.stop()
    events.append("redis stopped")
    await trio.sleep(1.0)
    redis.start()
    events.append("redis restarted")
    await trio.sleep(1.0)
    proc, port = instances[1]
    proc.terminate()  # SIGTERM: drain and exit
    while proc.poll() is None:  # noqa: ASYNC110 - a child process has no trio event to wait on
        await trio.sleep(0.05)
    events.append(f"instance on {port} exited with {proc.returncode} after SIGTERM")
    instances[1] = start_instance(redis.url, folder / "i1-again", port)
    events.append(f"instance on {port} started again")


async def main(users: int, operations: int, seed: int, with_chaos: bool = False) -> dict[str, object]:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    redis = RedisProcess(folder / "redis", persistent=True)
    redis.start()
    instances = [start_instance(redis.url, folder / f"i{i}") for i in range(2)]
    try:
        await trio.sleep(2)  # let both instances bind their ports
        names = [f"soak{i}" for i in range(users)]
        admin = mint_token(SECRET, "soak-admin", admin=True)
        async with connect(f"ws://127.0.0.1:{instances[0][1]}", admin) as client:
            await client.call("admin:upsertUsers", {"users": [{"id": n} for n in names]})
            await client.call("admin:upsertRooms", {"rooms": [{"id": "soak-room", "networkId": "n"}]})
        people = [User(n) for n in names]
        mids: list[str] = []
        progress = [0]
        began = time.monotonic()
        chaos_log: list[str] = []
        async with trio.open_nursery() as nursery:
            if with_chaos:
                nursery.start_soon(chaos, redis, instances, folder, chaos_log)
            for person in people:
                nursery.start_soon(
                    run_user,
                    person,
                    names,
                    [p for _, p in instances],
                    mids,
                    operations // users,
                    random.Random(rng.random()),
                    progress,
                )
        elapsed = time.monotonic() - began
        problems = []
        async with open_redis(redis.address) as store:
            await store.wait_connected()
            keys = Keys(PREFIX)  # the default tenant's (data format 4)
            meetings = await check_invariants(store, keys)
            for person in people:
                stream = [
                    e[0].decode()
                    for e in await store.execute("XRANGE", keys.user_events(person.name), "-", "+")
                ]
                if len(person.seen) != len(set(person.seen)):
                    problems.append(f"{person.name}: duplicate events")
                if sorted(set(person.seen), key=lambda i: tuple(map(int, i.split("-")))) != stream:
                    problems.append(f"{person.name}: saw {len(set(person.seen))} of {len(stream)} events")
        return {
            "users": users,
            "operations": progress[0],
            "seconds": round(elapsed, 1),
            "operations_per_second": round(progress[0] / elapsed),
            "meetings_left": meetings,
            "reconnects": sum(p.reconnects for p in people),
            "events_checked": sum(len(p.seen) for p in people),
            "chaos": chaos_log,
            "problems": problems,
        }
    finally:
        for proc, _ in instances:
            proc.terminate()
            proc.wait(20)
        redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--operations", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chaos", action="store_true", help="restart Redis and one instance during the run")
    args = parser.parse_args()
    result = trio.run(main, args.users, args.operations, args.seed, args.chaos)
    print(json.dumps(result, indent=2))
    name = "soak-chaos.json" if args.chaos else "soak.json"
    (Path(__file__).parent / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(1 if result["problems"] else 0)
