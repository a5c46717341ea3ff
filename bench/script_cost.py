"""Instructions Redis spends per run of the createMeeting script, counted by callgrind.

    python bench/script_cost.py [--warm 20000] [--measure 1000] [--top 25]

In bench/run.py's `create` scenario the core that Redis shares with the load generator is
full, and Redis is most of it: what a create costs Redis decides create's throughput. Time
on this machine moves 20-40 % from run to run; an instruction count moves well under 1 %. So:
a private redis-server takes `--warm` creates (the indexes grow to the size the bench's
runs reach), saves, and restarts under `valgrind --tool=callgrind` with instrumentation
off; `--measure` more creates are counted. The creates are the bench's: 50 callers at once
through the storage layer (no server, no websocket), each an organizer with 5 invitees in
one room, under a safe-retry key with its request's fingerprint, as the server sends them.

Prints one JSON object: instructions per create and, with `--top`, the costliest functions
of redis-server (exclusive; Lua's own functions have no symbols in Debian's build and show
as addresses).
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from roomful_meetings.app import scripts_for
from roomful_meetings.domain.meetings import Source
from roomful_meetings.storage.base import Write
from roomful_meetings.storage.embedded import find_redis_server, free_port, redis_command, stop_process
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingFields, MeetingStore
from roomful_meetings.storage.redis import open_redis
from roomful_meetings.storage.redis.url import RedisAddress

USERS, CALLERS, INVITEES = 100, 50, 5
ROOM = Source("room", "bench-room", "bench-room")
JANUARY_2031 = 1_924_992_000_000 // 60_000  # in minutes, as bench/loadgen.py's creates
HALF_HOURS = 31 * 48
STAMP = "2026-12-07T13:00:00.000Z"


def meeting_fields(meeting_id: str, organizer: str) -> MeetingFields:
    values: dict[str, object] = {
        "meetingId": meeting_id,
        "created": STAMP,
        "updated": STAMP,
        "subject": "load",
        "description": "",
        "color": "#FFFFFFFF",
        "organizerId": organizer,
        "sourceString": ROOM.string,
        "sourceType": ROOM.type,
        "sourcePk": ROOM.pk,
        "startDate": "2031-01-01T00:00:00.000Z",
        "endDate": "2031-01-01T00:30:00.000Z",
    }
    return MeetingFields(values)


async def create_many(port: int, count: int, *, seed: bool, around: Any = None) -> None:
    """`count` creates from CALLERS callers at once; `around(state)` is called with "on"
    after 200 unmeasured creates and with "off" at the end (None: save instead)."""
    async with open_redis(RedisAddress(host="127.0.0.1", port=port)) as redis:
        await redis.wait_connected()
        scripts = scripts_for(redis)
        await redis.load_scripts(scripts)
        keys = Keys("bench:")
        store = MeetingStore(redis, scripts, keys)
        users = [f"c{i}" for i in range(USERS)]
        if seed:
            for user in users:
                await redis.execute("HSET", keys.user(user), "timeZone", "UTC")
            await redis.execute("HSET", keys.room(ROOM.pk), "networkId", "bench")
        left = 0

        async def caller(index: int) -> None:
            nonlocal left
            organizer = users[index % USERS]
            invited = [users[(index + k) % USERS] for k in range(1, INVITEES + 1)]
            while left > 0:
                left -= 1
                meeting_id = secrets.token_hex(16)
                start = JANUARY_2031 + secrets.randbelow(HALF_HOURS) * 30
                await store.create(
                    meeting_id,
                    organizer,
                    ROOM,
                    keys.room(ROOM.pk),
                    start,
                    start + 30,
                    [organizer, *invited],
                    meeting_fields(meeting_id, organizer),
                    write=Write(
                        keys.request(organizer, secrets.token_hex(8)), request_print=secrets.token_hex(12)
                    ),
                )

        async def run(n: int) -> None:
            nonlocal left
            left = n
            async with trio.open_nursery() as nursery:
                for index in range(CALLERS):
                    nursery.start_soon(caller, index)

        if around is None:
            await run(count)
            await redis.execute("SAVE")
            return
        await run(200)
        around("on")
        await run(count)
        around("off")


def wait_ready(port: int) -> None:
    """Until the server answers PING (not LOADING) or a minute passed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"redis-server on {port} did not get ready")


def top_functions(profile: Path, count: int, per: int) -> list[dict[str, Any]]:
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", str(profile)], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in text.split("file:function", 1)[-1].splitlines():
        match = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+)", line)
        if match:
            name = match.group(2).split(":", 1)[-1]
            rows.append({"function": name, "instructions": round(int(match.group(1).replace(",", "")) / per)})
    return rows[:count]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warm", type=int, default=20_000, help="creates before counting")
    parser.add_argument("--measure", type=int, default=1_000, help="creates counted")
    parser.add_argument("--top", type=int, default=0, help="list the costliest functions")
    opts = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="script-cost-"))
    binary = find_redis_server()
    port = free_port()
    plain = subprocess.Popen(redis_command(binary, port, folder, persistent=False), stdout=subprocess.DEVNULL)
    try:
        wait_ready(port)
        trio.run(lambda: create_many(port, opts.warm, seed=True))
    finally:
        stop_process(plain, 10)
    port, profile = free_port(), folder / "callgrind.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={profile}"]
    counted = subprocess.Popen(
        [*valgrind, *redis_command(binary, port, folder, persistent=False)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def instrument(state: str) -> None:
        subprocess.run(
            ["callgrind_control", "-i", state, str(counted.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )

    try:
        wait_ready(port)
        trio.run(lambda: create_many(port, opts.measure, seed=False, around=instrument))
    finally:
        stop_process(counted, 60)
    total = next(
        int(line.split()[1]) for line in profile.read_text().splitlines() if line.startswith("totals:")
    )
    out: dict[str, Any] = {"creates": opts.measure, "instructions_per_create": round(total / opts.measure)}
    if opts.top:
        out["top"] = top_functions(profile, opts.top, opts.measure)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
