"""The benchmark suite: the server against its ceilings, on this machine, in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/run.py [--runs 3] [--seconds 4] [--idle 10000] [--quick]
    .venv/bin/python bench/run.py --only find50 slots50 [--seconds 4]   # a few, as JSON

Starts a private redis-server and `roomful-meetings serve` processes, seeds a data set
through the admin endpoints (typed client), then runs each scenario with bench/loadgen.py
in a separate process, and the references (bench/references/: bare trio-websocket echo,
broadcast and idle servers, a Node.js `ws` + `ioredis` and a Python asyncio + `websockets` +
redis-py server doing the getMeeting job; bench/redis_layer.py) in the same invocation.
The Node.js reference is installed here with `npm ci` (bench/references/node/package-lock.json)
and skipped, with one line saying so, when `node` is not on PATH. The server under test is
pinned to core 0; the load generator and Redis to core 1 (`sched_setaffinity`, what
`taskset` does). For every scenario it records throughput and latency (client side),
server CPU microseconds per request (from /proc, so a saturated load generator cannot
flatter the result), Redis commands and Redis CPU per request (INFO), and the server's own
time per request (its /metrics histogram).

Writes bench/results/latest.json, latest.md (the table in bench/README.md) and latest.png
(quick.* with --quick, so that a quick look never replaces the full table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import hiredis
import trio

from roomful_meetings.auth import mint_token
from roomful_meetings.client import open_client
from roomful_meetings.protocol import payloads as p
from roomful_meetings.storage.embedded import RedisProcess, free_port, stop_process
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import load_scripts
from roomful_meetings.storage.redis.connection import pack

HERE = Path(__file__).resolve().parent
REFERENCES = HERE / "references"
NODE_REFERENCE = REFERENCES / "node"
RESULTS = HERE / "results"
SECRET = "bench-secret-bench-secret-bench-secret"
PREFIX = "bench:"
SERVER_CORE, LOAD_CORE = 0, 1
TICKS = os.sysconf("SC_CLK_TCK")
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata", "America/Los_Angeles"]
USERS = 200
FANOUT = 100
SERIES_USERS = 50  # slots_month50_series: each in 10 weekly series and 24 meetings in the month


# -- processes and what they cost ------------------------------------------------------------


def pin(pid: int, core: int) -> None:
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(pid, {cores[core % len(cores)]})


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) * 1024 if match else 0


def redis_info(port: int) -> tuple[int, float, int]:
    """(commands processed, Redis CPU seconds, reads from clients) from INFO."""
    import socket

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(pack(("INFO", "all")))
        reader = hiredis.Reader()
        while (reply := reader.gets()) is False:
            reader.feed(sock.recv(1 << 20))
    text = reply.decode()
    stats = dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))
    calls = sum(int(m) for m in re.findall(r"^cmdstat_[^:]+:calls=(\d+)", text, re.M))
    cpu = float(stats["used_cpu_sys"]) + float(stats["used_cpu_user"])
    return calls, cpu, int(stats.get("total_reads_processed", 0))


def metrics(http_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as reply:
        return cast(str, reply.read().decode())


def histogram(text: str, endpoint: str) -> dict[float, float]:
    """Cumulative bucket counts of roomful_request_seconds for one endpoint."""
    out = {}
    for le, count in re.findall(
        rf'^roomful_request_seconds_bucket\{{(?:worker="\d+",)?'
        rf'endpoint="{re.escape(endpoint)}",le="([^"]+)"\}} (\S+)$',
        text,
        re.M,
    ):
        out[float("inf") if le == "+Inf" else float(le)] = float(count)
    return out


def merged(histograms: Iterable[Mapping[float, float]]) -> dict[float, float]:
    out: dict[float, float] = {}
    for one in histograms:
        for le, count in one.items():
            out[le] = out.get(le, 0.0) + count
    return out


def delivered(text: str) -> float:
    match = re.search(r"^roomful_events_delivered_total (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def server_median_ms(before: Mapping[float, float], after: Mapping[float, float]) -> tuple[float, float]:
    """The median of the server's own request time between two scrapes (interpolated in
    its bucket), and the share of requests at or under 5 ms (exact: 5 ms is a bucket)."""
    counts = {le: after.get(le, 0) - before.get(le, 0) for le in sorted(after)}
    total = counts.get(float("inf"), 0)
    if not total:
        return 0.0, 0.0
    lower_le, lower_count = 0.0, 0.0
    median = 0.0
    for le, count in counts.items():
        if count >= total / 2:
            span = count - lower_count
            upper = le if le != float("inf") else lower_le * 2
            median = lower_le + (upper - lower_le) * ((total / 2 - lower_count) / span if span else 0)
            break
        lower_le, lower_count = le, count
    return round(median * 1000, 3), round(counts.get(0.005, 0) / total, 3)


def consecutive_free_ports(count: int) -> int:
    """A free port p with p + 1, ..., p + count - 1 free too (the workers' --http-port)."""
    import socket

    while True:
        port = free_port()
        try:
            for offset in range(1, count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port


class Server:
    """A `roomful-meetings serve` process pinned to the server core, or with `workers` > 0
    `serve --workers N` left on every core (the way to use them all)."""

    def __init__(self, redis_url: str, folder: Path, workers: int = 0) -> None:
        self.port, self.http_port = free_port(), consecutive_free_ports(max(workers, 1))
        command = [sys.executable, "-m", "roomful_meetings", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--http-port", str(self.http_port), "--redis-url", redis_url]
        command += ["--jwt-secret", SECRET, "--key-prefix", PREFIX, "--log-level", "warning"]
        command += ["--rate-per-second", "1000000", "--rate-burst", "1000000", "--max-connections", "30000"]
        if workers:
            command += ["--workers", str(workers)]
        log = folder / f"server-{self.port}.log"
        with log.open("wb") as stderr:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        if not workers:
            pin(self.proc.pid, SERVER_CORE)
        self.url = f"ws://127.0.0.1:{self.port}"
        self.http_ports = [self.http_port + i for i in range(max(workers, 1))]
        deadline = time.monotonic() + 30
        for http_port in self.http_ports:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise RuntimeError(f"server did not start:\n{log.read_text()[-2000:]}") from None
                    time.sleep(0.1)

    @property
    def pids(self) -> list[int]:
        """The processes serving: this one, or its workers."""
        # Of every thread: trio starts processes from a worker thread.
        tasks = Path(f"/proc/{self.proc.pid}/task").glob("*/children")
        children = [int(pid) for task in tasks for pid in task.read_text().split()]
        return children or [self.proc.pid]

    def stop(self) -> None:
        stop_process(self.proc, 30)  # SIGTERM drains the instance


class Reference:
    """A reference server pinned to the server core; it prints "listening <port>"."""

    def __init__(self, command: list[str]) -> None:
        port = free_port()
        self.proc = subprocess.Popen([*command, "--port", str(port)], stdout=subprocess.PIPE, text=True)
        pin(self.proc.pid, SERVER_CORE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            raise RuntimeError(f"reference {command} did not start: {line!r}")
        self.url = f"ws://127.0.0.1:{port}"

    @classmethod
    def trio(cls, kind: str) -> Reference:
        """The bare trio-websocket servers: echo, broadcast, idle."""
        return cls([sys.executable, str(REFERENCES / "trio_ws.py"), kind])

    def stop(self) -> None:
        stop_process(self.proc, 10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def get_meeting_args(redis_port: int, prefix: str = PREFIX) -> list[str]:
    """What the getMeeting references need to run the project's own script (loaded by the
    servers under test) against the same Redis: its SHA, and the default tenant's key scope
    (what goes before `m:<id>`, and the script's first library argument)."""
    sha = load_scripts()["get_meeting"].sha
    return ["--redis-port", str(redis_port), "--prefix", Keys(prefix).scope, "--sha", sha]


def node_ready() -> bool:
    """`npm ci` once (the lock file pins every package); False, said in one line, without node."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("skipping the Node.js reference: node (and npm) not on PATH", file=sys.stderr)
        return False
    installed = NODE_REFERENCE / "node_modules" / ".package-lock.json"
    lock = NODE_REFERENCE / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_REFERENCE,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return True


def get_references(redis_port: int, with_node: bool) -> dict[str, list[str]]:
    """The getMeeting references by result name: their command lines (without --port)."""
    args = get_meeting_args(redis_port)
    out = {"asyncio_get": [sys.executable, str(REFERENCES / "asyncio_get.py"), *args]}
    import os as _os

    if _os.environ.get("PROTO"):
        out["proto_get"] = [sys.executable, "/tmp/sc/proto.py", *args]
    if with_node:
        out["node_get"] = ["node", str(NODE_REFERENCE / "server.js"), *args]
    return out


# -- seeding -----------------------------------------------------------------------------------


async def seed(url: str) -> dict[str, Any]:
    users = [f"u{i}" for i in range(USERS)]
    fans = [f"f{i}" for i in range(FANOUT)]
    start = datetime(2031, 1, 6, 9, tzinfo=UTC)
    async with open_client(
        url, mint_token(SECRET, "root", admin=True, ttl_seconds=3600), events=False
    ) as admin:
        for chunk in range(0, USERS, 100):
            await admin.upsert_users(
                [
                    p.UserIn(u, timeZone=ZONES[i % len(ZONES)])
                    for i, u in enumerate(users[chunk : chunk + 100])
                ]
            )
        await admin.upsert_users([p.UserIn(u) for u in [*fans, "org", "fan-org"]])
        for chunk in range(0, USERS, 100):
            await admin.upsert_users(
                [p.UserIn(f"{kind}{i}") for kind in ("c", "sc") for i in range(chunk, chunk + 100)]
            )
        await admin.upsert_users(
            [p.UserIn(f"s{i}", timeZone=ZONES[i % len(ZONES)]) for i in range(SERIES_USERS)]
        )
        await admin.upsert_rooms([p.RoomIn("bench-room", networkId="bench", title="Bench")])
    meetings, rsvp = [], []
    async with open_client(url, mint_token(SECRET, "org", ttl_seconds=3600), events=False) as org:
        for i, user in enumerate(users):
            async with open_client(url, mint_token(SECRET, user, ttl_seconds=3600), events=False) as client:
                window = p.Interval(start, start + timedelta(hours=8))
                weekly = p.AvailabilityIn("Available", [window], repetition=0b0111110)
                await client.set_user_availability(p.SetAvailability(weekly, start))
                slot = start + timedelta(days=i % 20, hours=i % 8)
                made = await client.create_meeting(
                    p.CreateMeeting(
                        "room",
                        ["bench-room"],
                        "get me",
                        slot,
                        slot + timedelta(minutes=45),
                        invitedUserIds=[users[(i + 1) % USERS]],
                    )
                )
                meetings.append(made.meetingId)
            invite = await org.create_meeting(
                p.CreateMeeting(
                    "room", ["bench-room"], "rsvp", start, start + timedelta(hours=1), invitedUserIds=[user]
                )
            )
            rsvp.append(invite.meetingId)
    async with open_client(url, mint_token(SECRET, "fan-org", ttl_seconds=3600), events=False) as organizer:
        fan = await organizer.create_meeting(
            p.CreateMeeting(
                "room", ["bench-room"], "fanout", start, start + timedelta(hours=1), invitedUserIds=fans
            )
        )
    series_users = await seed_series(url, start)
    return {
        "users": users,
        "series_users": series_users,
        "series_create_users": [f"sc{i}" for i in range(USERS)],
        "room": "bench-room",
        "meetings": meetings,
        "rsvp_meetings": rsvp,
        "fanout_meeting": fan.meetingId,
        "fanout_organizer": "fan-org",
        "fanout_participants": fans,
        "idle_users": [f"idle{i}" for i in range(2000)],  # 10,000 connections: 5 per user
        "create_users": [f"c{i}" for i in range(USERS)],
    }


async def seed_series(url: str, start: datetime) -> list[str]:
    """SERIES_USERS people with working hours, each organizing 2 weekly never-ending series
    (started a year before the month searched, 4 invitees) and 4 meetings (5 invitees) in
    January 2031: everyone takes part in 10 series and 24 meetings of that month."""
    users = [f"s{i}" for i in range(SERIES_USERS)]
    for i, user in enumerate(users):
        async with open_client(url, mint_token(SECRET, user, ttl_seconds=3600), events=False) as client:
            window = p.Interval(start, start + timedelta(hours=8))
            await client.set_user_availability(
                p.SetAvailability(p.AvailabilityIn("Available", [window], repetition=0b0111110), start)
            )
            for k in range(2):
                first = start - timedelta(days=364 - (i + k) % 5, hours=-((i + 3 * k) % 8))
                await client.create_series(
                    p.CreateMeeting(
                        "room",
                        ["bench-room"],
                        "weekly",
                        first,
                        first + timedelta(minutes=30),
                        invitedUserIds=[users[(i + j) % SERIES_USERS] for j in range(1 + 4 * k, 5 + 4 * k)],
                    ),
                    "FREQ=WEEKLY",
                    ZONES[i % len(ZONES)],
                )
            for k in range(4):
                slot = start + timedelta(days=(i + 7 * k) % 25, hours=(i + k) % 8, minutes=45)
                await client.create_meeting(
                    p.CreateMeeting(
                        "room",
                        ["bench-room"],
                        "single",
                        slot,
                        slot + timedelta(minutes=45),
                        invitedUserIds=[users[(i + j) % SERIES_USERS] for j in range(9 + 5 * k, 14 + 5 * k)],
                    )
                )
    return users


# -- one scenario ------------------------------------------------------------------------------


def loadgen(args: list[str], on_mark: Callable[[], None]) -> dict[str, Any]:
    """Run bench/loadgen.py pinned to the load core. `on_mark` runs when it says the
    measured window starts (or, for idle, that every connection is open); returns its
    last JSON line."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "loadgen.py"), *args], stdout=subprocess.PIPE, text=True
    )
    pin(proc.pid, LOAD_CORE)
    assert proc.stdout is not None
    last: dict[str, Any] = {}
    for line in proc.stdout:
        last = json.loads(line)
        if last.get("measuring") or last.get("opened"):
            on_mark()
    if proc.wait() != 0:
        raise RuntimeError(f"loadgen {args} failed")
    return last


class Meter:
    """CPU of the processes under test and Redis counters, around a measurement."""

    def __init__(self, pids: list[int], redis_port: int) -> None:
        self.pids, self.redis_port = pids, redis_port
        self.cpu = sum(cpu_seconds(pid) for pid in pids)
        self.redis = redis_info(redis_port)

    def per(self, count: float) -> dict[str, float]:
        cpu = sum(cpu_seconds(pid) for pid in self.pids) - self.cpu
        calls, redis_cpu, reads = redis_info(self.redis_port)
        count = max(count, 1)
        return {
            "server_cpu_us": round(cpu / count * 1e6, 1),
            "redis_commands": round((calls - self.redis[0]) / count, 2),
            "redis_cpu_us": round((redis_cpu - self.redis[1]) / count * 1e6, 1),
            "redis_reads": round((reads - self.redis[2]) / count, 3),
        }


class Window:
    """What happens on the processes under test between the loadgen's mark and its end."""

    def __init__(self, pids: list[int], redis_port: int, http_ports: list[int]) -> None:
        self.pids, self.redis_port, self.http_ports = pids, redis_port, http_ports
        self.meter: Meter | None = None
        self.scrapes: list[str] = []

    def start(self) -> None:
        self.scrapes = [metrics(port) for port in self.http_ports]
        self.meter = Meter(self.pids, self.redis_port)

    def end(self, count: float) -> tuple[dict[str, float], list[str], list[str]]:
        assert self.meter is not None, "the load generator never started measuring"
        return self.meter.per(count), self.scrapes, [metrics(port) for port in self.http_ports]


def scenario_args(
    url: str, scenario: str, opts: argparse.Namespace, seed_file: Path, *extra: str
) -> list[str]:
    return ["--url", url, "--scenario", scenario, "--seconds", str(opts.seconds), "--secret", SECRET,
            "--seed", str(seed_file), *extra]  # fmt: skip


def request_scenario(
    name: str,
    target: Server | Reference,
    redis_port: int,
    opts: argparse.Namespace,
    seed_file: Path,
    connections: int,
    endpoint: str | None,
) -> dict[str, Any]:
    http_ports = target.http_ports if isinstance(target, Server) and endpoint else []
    window = Window(target.pids if isinstance(target, Server) else [target.proc.pid], redis_port, http_ports)
    # The references do the get job, and so does the server under --workers.
    scenario = "get" if name.endswith("_get") or name.startswith("get_") else name
    result = loadgen(
        scenario_args(target.url, scenario, opts, seed_file, "--connections", str(connections)),
        window.start,
    )
    costs, before, after = window.end(result["requests"])
    if result["errors"]:
        # Failing requests cost less than the job: a wrong seed or a reference that no longer
        # follows the key scheme would pass for speed (both happened).
        raise SystemExit(
            f"{name}: {result['errors']} of {result['requests']} requests answered with an error; "
            "its figures would measure the error path, so nothing is written"
        )
    result.update(costs)
    if endpoint and before:
        # Workers label their samples: one histogram per worker, summed.
        was, now = (merged(histogram(t, endpoint) for t in texts) for texts in (before, after))
        median, share = server_median_ms(was, now)
        result["server_median_ms"], result["server_share_under_5ms"] = median, share
    return result


def fanout_scenario(
    servers: list[Server], redis_port: int, opts: argparse.Namespace, seed_file: Path
) -> dict[str, Any]:
    window = Window([s.proc.pid for s in servers], redis_port, [s.http_port for s in servers])
    receivers_on = ["--in-flight", str(opts.in_flight), "--receivers-on", *[s.url for s in servers]]
    result = loadgen(scenario_args(servers[0].url, "fanout", opts, seed_file, *receivers_on), window.start)
    counted = sum(
        delivered(a) - delivered(b)
        for b, a in zip(window.scrapes, [metrics(s.http_port) for s in servers], strict=True)
    )
    costs, _, _ = window.end(counted)
    result["server_counted_deliveries_per_second"] = round(counted / result["seconds"], 1)
    result.update(costs)
    return result


def run_fanout(
    out: dict[str, Any],
    servers: list[Server],
    redis_port: int,
    opts: argparse.Namespace,
    seed_file: Path,
    progress: Progress,
) -> None:
    out["broadcast"] = broadcast_reference(redis_port, opts)
    progress.step("broadcast reference")
    out["fanout"] = fanout_scenario(servers, redis_port, opts, seed_file)
    progress.step("fanout")


def broadcast_reference(redis_port: int, opts: argparse.Namespace) -> dict[str, Any]:
    ref = Reference.trio("broadcast")
    try:
        window = Window([ref.proc.pid], redis_port, [])
        result = loadgen(
            [
                "--url",
                ref.url,
                "--scenario",
                "broadcast",
                "--seconds",
                str(opts.seconds),
                "--receivers",
                str(FANOUT),
                "--in-flight",
                str(opts.in_flight),
            ],
            window.start,
        )
        costs, _, _ = window.end(result["deliveries_per_second"] * result["seconds"])
        result.update(costs)
        return result
    finally:
        ref.stop()


def idle_scenario(
    target: Server | Reference, opts: argparse.Namespace, seed_file: Path, with_auth: bool
) -> dict[str, Any]:
    baseline = rss_bytes(target.proc.pid)
    measured: dict[str, float] = {}

    def on_open() -> None:
        time.sleep(1.0)  # let the server settle after the last handshake
        measured["rss"] = rss_bytes(target.proc.pid)

    args = [
        "--url",
        target.url,
        "--scenario",
        "idle",
        "--connections",
        str(opts.idle),
        "--seconds",
        "2",
        "--seed",
        str(seed_file),
    ]
    if with_auth:
        args += ["--secret", SECRET]
    result = loadgen(args, on_open)
    per = (measured["rss"] - baseline) / opts.idle
    result.update(
        {
            "rss_before_mb": round(baseline / 2**20, 1),
            "rss_after_mb": round(measured["rss"] / 2**20, 1),
            "bytes_per_connection": round(per),
        }
    )
    return result


def redis_layer() -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(HERE / "redis_layer.py"), "--seconds", "2", "--rounds", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    return cast(dict[str, Any], json.loads(proc.stdout))


# -- a whole run -------------------------------------------------------------------------------


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.began = total, 0, time.monotonic()

    def step(self, label: str) -> None:
        self.done += 1
        width = 30
        filled = width * self.done // self.total
        elapsed = time.monotonic() - self.began
        bar = "#" * filled + "." * (width - filled)
        print(
            f"\r[{bar}] {self.done}/{self.total} {elapsed:5.0f}s {label:<40}",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if self.done == self.total:
            print(file=sys.stderr)


REQUEST_SCENARIOS = [
    # name, connections, endpoint (for the server's own timing). Writers go last and create
    # uses users of its own, so no scenario measures data another one piled up.
    ("get", 100, "meeting:getMeeting"),
    ("slots10", 10, "meeting:getTimeSlotsForMeeting"),
    ("slots50", 10, "meeting:getTimeSlotsForMeeting"),
    ("slots_month50", 1, "meeting:getMeetingTimeSlotsForMonth"),
    ("slots_month50_series", 1, "meeting:getMeetingTimeSlotsForMonth"),
    ("find50", 10, "meeting:findMeetingTimes"),
    ("rsvp", 100, "meeting:acceptMeetingRequest"),
    ("create", 100, "meeting:createMeeting"),
    ("series_create", 100, "meeting:createMeeting"),
]


REFERENCE_SCENARIOS = ["echo", "node_get", "asyncio_get"]
WORKER_SCENARIOS = ["get_workers1", "get_workers2"]


def one_run(opts: argparse.Namespace, progress: Progress, folder: Path) -> dict[str, Any]:
    redis = RedisProcess(folder / "redis")
    redis.start()
    assert redis.proc is not None
    pin(redis.proc.pid, LOAD_CORE)
    out: dict[str, Any] = {}
    servers: list[Server] = []
    try:
        servers = [Server(redis.url, folder), Server(redis.url, folder)]
        seed_file = folder / "seed.json"
        seed_file.write_text(json.dumps(trio.run(seed, servers[0].url)))
        progress.step("seeded")
        echo = Reference.trio("echo")
        try:
            out["echo"] = request_scenario("echo", echo, redis.port, opts, seed_file, 100, None)
        finally:
            echo.stop()
        progress.step("echo reference")
        for name, command in get_references(redis.port, opts.node).items():
            if opts.only and name not in opts.only:
                continue
            ref = Reference(command)
            try:
                out[name] = request_scenario(name, ref, redis.port, opts, seed_file, 100, None)
            finally:
                ref.stop()
            progress.step(name)
        for name, connections, endpoint in REQUEST_SCENARIOS:
            if opts.only and name not in opts.only:
                continue
            out[name] = request_scenario(name, servers[0], redis.port, opts, seed_file, connections, endpoint)
            progress.step(name)
        if opts.only and "fanout" in opts.only:  # with its reference
            run_fanout(out, servers, redis.port, opts, seed_file, progress)
        if opts.only:  # a look at a few scenarios: no worker or idle runs
            return out
        for workers in (1, 2):  # --workers 1 and 2, on both cores (the server core is not theirs)
            name = f"get_workers{workers}"
            spread = Server(redis.url, folder, workers=workers)
            try:
                out[name] = request_scenario(
                    name, spread, redis.port, opts, seed_file, 100, "meeting:getMeeting"
                )
            finally:
                spread.stop()
            progress.step(name)
        run_fanout(out, servers, redis.port, opts, seed_file, progress)
        idle_ref = Reference.trio("idle")
        try:
            out["idle_reference"] = idle_scenario(idle_ref, opts, seed_file, with_auth=False)
        finally:
            idle_ref.stop()
        progress.step("idle reference")
        out["idle"] = idle_scenario(servers[1], opts, seed_file, with_auth=True)
        progress.step("idle")
        out["redis_layer"] = redis_layer()
        progress.step("redis layer")
    finally:
        for server in servers:
            server.stop()
        redis.stop()
    return out


def ratios(run: dict[str, Any]) -> dict[str, float]:
    echo = run["echo"]
    against: dict[str, float] = {}
    for ref in ("node_get", "asyncio_get"):
        if run.get(ref, {}).get("throughput"):
            short = ref.removesuffix("_get")
            against[f"get_vs_{short}_throughput"] = run["get"]["throughput"] / run[ref]["throughput"]
            against[f"get_vs_{short}_p99"] = run["get"]["p99_ms"] / run[ref]["p99_ms"]
            against[f"get_vs_{short}_capacity"] = run[ref]["server_cpu_us"] / run["get"]["server_cpu_us"]
    return {
        "get_vs_echo_throughput": run["get"]["throughput"] / echo["throughput"],
        "get_vs_echo_capacity": echo["server_cpu_us"] / run["get"]["server_cpu_us"],
        "get_vs_echo_p99": run["get"]["p99_ms"] / echo["p99_ms"],
        "create_vs_echo_throughput": run["create"]["throughput"] / echo["throughput"],
        "create_vs_echo_capacity": echo["server_cpu_us"] / run["create"]["server_cpu_us"],
        "redis_layer_vs_plain": run["redis_layer"]["project_vs_plain"],
        "fanout_vs_broadcast": run["fanout"]["deliveries_per_second"]
        / run["broadcast"]["deliveries_per_second"],
        "slots_month50_server_median_ms": run["slots_month50"].get("server_median_ms", 0.0),
        "slots_month50_series_server_median_ms": run["slots_month50_series"].get("server_median_ms", 0.0),
        "series_create_vs_create_capacity": run["create"]["server_cpu_us"]
        / run["series_create"]["server_cpu_us"],
        "idle_memory_vs_bare": run["idle"]["bytes_per_connection"]
        / max(run["idle_reference"]["bytes_per_connection"], 1),
        "workers2_vs_workers1_throughput": run["get_workers2"]["throughput"]
        / run["get_workers1"]["throughput"],
        **against,
    }


TARGETS = {
    "get_vs_echo_throughput": (">=", 1.2),
    "get_vs_node_throughput": (">=", 1.0),
    "get_vs_node_p99": ("<=", 1.0),
    "create_vs_echo_throughput": (">=", 0.6),
    "redis_layer_vs_plain": (">=", 0.90),
    "fanout_vs_broadcast": (">=", 2.0),
    "slots_month50_server_median_ms": ("<=", 5.0),
    "slots_month50_series_server_median_ms": ("<=", 5.0),
    "idle_memory_vs_bare": ("<=", 1.3),
}


def median_of(runs: list[dict[str, Any]], scenario: str, key: str) -> float:
    values = [r[scenario][key] for r in runs if key in r[scenario]]
    return round(statistics.median(values), 3) if values else 0.0


def table(
    runs: list[dict[str, Any]], title: str, names: list[str], columns: list[tuple[str, str]]
) -> list[str]:
    """A Markdown table of per-run medians: one row per scenario, (heading, key) columns."""
    lines = ["", "| " + " | ".join([title, *[heading for heading, _ in columns]]) + " |"]
    lines.append("|" + "---|" * (len(columns) + 1))
    for name in names:
        cells = []
        for _, key in columns:
            value = runs[0][name].get(key, 0) if key == "connections" else median_of(runs, name, key)
            cells.append(f"{value:,.0f}" if key in WHOLE else (str(value) if value else "-"))
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return lines


WHOLE = {"throughput", "deliveries_per_second", "bytes_per_connection", "connections"}


def markdown(runs: list[dict[str, Any]], ratio_runs: list[dict[str, float]], meta: dict[str, Any]) -> str:
    lines = [f"Runs: {len(runs)} on {meta['date']} ({meta['machine']}); medians of the runs."]
    if "load_average_before" in meta:
        before, after = meta["load_average_before"], meta["load_average_after"]
        lines.append(f"Load average (1, 5, 15 min) before: {before}, after: {after}.")
    lines += table(
        runs,
        "scenario",
        [
            n
            for n in [*REFERENCE_SCENARIOS, *[s[0] for s in REQUEST_SCENARIOS], *WORKER_SCENARIOS]
            if n in runs[0]
        ],
        [
            ("conns", "connections"),
            ("throughput /s", "throughput"),
            ("p50 ms", "p50_ms"),
            ("p99 ms", "p99_ms"),
            ("server CPU us/req", "server_cpu_us"),
            ("Redis cmds/req", "redis_commands"),
            ("Redis CPU us/req", "redis_cpu_us"),
            ("Redis reads/req", "redis_reads"),
            ("load generator CPU us/req", "loadgen_cpu_us"),
            ("server median ms", "server_median_ms"),
        ],
    )
    lines += table(
        runs,
        f"fan-out, 100 receivers, {meta.get('fanout_in_flight', 1)} updates in flight",
        ["broadcast", "fanout"],
        [
            ("deliveries/s", "deliveries_per_second"),
            ("p50 ms per update", "p50_ms"),
            ("p99 ms per update", "p99_ms"),
            ("server CPU us/delivery", "server_cpu_us"),
            ("Redis CPU us/delivery", "redis_cpu_us"),
        ],
    )
    lines += table(
        runs,
        "idle",
        ["idle_reference", "idle"],
        [
            ("connections", "connections"),
            ("bytes per connection", "bytes_per_connection"),
            ("RSS before MB", "rss_before_mb"),
            ("RSS after MB", "rss_after_mb"),
        ],
    )
    redis_runs = [r["redis_layer"]["median"] for r in runs]
    lines += ["", "| Redis client, EVALSHA from 50 tasks | calls/s |", "|---|---|"]
    for client in ["project", "plain", "plain_pipelined", "coredis"]:
        lines.append(f"| {client} | {statistics.median(r[client] for r in redis_runs):,.0f} |")
    lines += ["", "| ratio | median | per run | target | met |", "|---|---|---|---|---|"]
    for key in ratio_runs[0]:
        values = [r[key] for r in ratio_runs]
        med = statistics.median(values)
        target = TARGETS.get(key)
        met = (
            ""
            if target is None
            else ("yes" if (med >= target[1] if target[0] == ">=" else med <= target[1]) else "**no**")
        )
        goal = "" if target is None else f"{target[0]} {target[1]}"
        lines.append(f"| {key} | {med:.2f} | {', '.join(f'{v:.2f}' for v in values)} | {goal} | {met} |")
    return "\n".join(lines) + "\n"


def chart(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    names = ["echo", *[s[0] for s in REQUEST_SCENARIOS]]
    fig = plt.figure(figsize=(10, 10))
    grid = fig.add_gridspec(3, 2)
    top, bottom = fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, :])
    fan, idle = fig.add_subplot(grid[2, 0]), fig.add_subplot(grid[2, 1])
    top.bar(
        names,
        [median_of(runs, n, "throughput") for n in names],
        color=["grey"] + ["tab:blue"] * (len(names) - 1),
    )
    top.set_ylabel("requests / s")
    top.set_title("Throughput (echo = bare trio-websocket + msgspec reference)")
    x = range(len(names))
    bottom.bar([i - 0.2 for i in x], [median_of(runs, n, "p50_ms") for n in names], width=0.4, label="p50")
    bottom.bar([i + 0.2 for i in x], [median_of(runs, n, "p99_ms") for n in names], width=0.4, label="p99")
    bottom.set_xticks(list(x), names)
    bottom.set_ylabel("latency ms (client side)")
    bottom.set_yscale("log")
    bottom.set_yticks([0.5, 1, 2, 5, 10, 20, 50, 100, 200])
    bottom.yaxis.set_major_formatter(ScalarFormatter())
    bottom.yaxis.set_minor_formatter(NullFormatter())
    bottom.legend()
    fan.bar(
        ["broadcast\n(reference)", "fanout"],
        [median_of(runs, n, "deliveries_per_second") for n in ("broadcast", "fanout")],
        color=["grey", "tab:blue"],
    )
    fan.set_ylabel("deliveries / s")
    fan.set_title("Fan-out to 100 receivers")
    idle.bar(
        ["bare server\n(reference)", "roomful"],
        [median_of(runs, n, "bytes_per_connection") / 1024 for n in ("idle_reference", "idle")],
        color=["grey", "tab:blue"],
    )
    idle.set_ylabel("KB per idle connection")
    idle.set_title("Memory per idle connection")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections")
    parser.add_argument("--quick", action="store_true", help="1 run, 2 s each, 1000 idle connections")
    parser.add_argument("--in-flight", type=int, default=8, help="fan-out updates under way at once")
    parser.add_argument(
        "--only", nargs="+", help="just these request scenarios and references, or fanout (printed as JSON)"
    )
    opts = parser.parse_args(argv)
    if opts.only:
        # A look at a few scenarios: the echo, and the references named among them.
        opts.node = "node_get" in opts.only and node_ready()
        with tempfile.TemporaryDirectory(prefix="roomful-bench-") as tmp:
            found = one_run(opts, Progress(len(opts.only) + 2), Path(tmp))
        print(json.dumps(found, indent=2))
        return
    opts.node = node_ready()
    if opts.quick:
        opts.runs, opts.seconds, opts.idle = 1, 2.0, 1000
    if len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than 2 cores; server and load share one", file=sys.stderr)
    progress = Progress(opts.runs * (18 + opts.node))
    load_before = os.getloadavg()  # the machine's load, reported beside the figures
    runs = []
    for _ in range(opts.runs):
        with tempfile.TemporaryDirectory(prefix="roomful-bench-") as tmp:
            runs.append(one_run(opts, progress, Path(tmp)))
    ratio_runs = [ratios(r) for r in runs]
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores",
        "seconds_per_scenario": opts.seconds,
        "fanout_in_flight": opts.in_flight,
        "idle_connections": opts.idle,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    RESULTS.mkdir(exist_ok=True)
    name = "quick" if opts.quick else "latest"  # a quick look never replaces the full table
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"meta": meta, "runs": runs, "ratios": ratio_runs}, indent=2) + "\n"
    )
    table = markdown(runs, ratio_runs, meta)
    (RESULTS / f"{name}.md").write_text(table)
    chart(runs, RESULTS / f"{name}.png")
    print(table)


if __name__ == "__main__":
    main()
