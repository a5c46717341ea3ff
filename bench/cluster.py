"""The create and get scenarios with 30 tenants, on one Redis and on a 3-primary Cluster.

    python bench/cluster.py [--tenants 30] [--seconds 4] [--runs 3] [--connections 100]

For each target, in the same run: a `roomful-meetings serve` pinned to the server core,
Redis (one server, or three cluster primaries without replicas, slots split evenly) and
the load generator on the other core; 30 tenants seeded alike (users, a room, a meeting
per user). The load generator's connections go round the tenants. Reported per scenario:
throughput, latency, server CPU per request, and per Redis node its commands and CPU per
request (INFO), plus how the tenants spread over the nodes (each tenant is one hash slot:
docs/architecture.md). Prints one JSON object and writes bench/results/cluster.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio
from redis_layer import BenchCluster
from run import (
    RESULTS,
    SECRET,
    Server,
    cpu_seconds,
    loadgen,
    redis_info,
    scenario_args,
)

from roomful_meetings.auth import mint_token
from roomful_meetings.client import open_client
from roomful_meetings.protocol import payloads as p
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis.cluster import key_slot

USERS_PER_TENANT = 20
PREFIX = "bench:"  # run.Server's --key-prefix


def tenant_names(count: int) -> list[str]:
    return [f"tenant{i:02d}" for i in range(count)]


async def seed_tenant(url: str, tenant: str) -> dict[str, Any]:
    users = [f"u{i}" for i in range(USERS_PER_TENANT)]
    start = datetime(2031, 1, 6, 9, tzinfo=UTC)

    def token(user: str, admin: bool = False) -> str:
        return mint_token(SECRET, user, admin=admin, ttl_seconds=3600, tenant=tenant)

    async with open_client(url, token("root", admin=True), events=False) as admin:
        await admin.upsert_users(
            [p.UserIn(u) for u in users] + [p.UserIn(f"c{i}") for i in range(USERS_PER_TENANT)]
        )
        await admin.upsert_rooms([p.RoomIn("bench-room", title="Bench")])
    meetings = []
    for i, user in enumerate(users):
        async with open_client(url, token(user), events=False) as client:
            slot = start + timedelta(days=i % 20, hours=i % 8)
            made = await client.create_meeting(
                p.CreateMeeting(
                    "room", ["bench-room"], "get me", slot, slot + timedelta(minutes=45),
                    invitedUserIds=[users[(i + 1) % len(users)]],
                )
            )  # fmt: skip
            meetings.append(made.meetingId)
    return {
        "tenant": tenant,
        "users": users,
        "meetings": meetings,
        "room": "bench-room",
        "create_users": [f"c{i}" for i in range(USERS_PER_TENANT)],
    }


async def seed(url: str, tenants: list[str]) -> dict[str, Any]:
    return {"tenants": [await seed_tenant(url, tenant) for tenant in tenants]}


def measure(
    server: Server, ports: list[int], scenario: str, opts: argparse.Namespace, seed_file: Path
) -> dict[str, Any]:
    before: dict[str, Any] = {}

    def mark() -> None:
        before["cpu"] = sum(cpu_seconds(pid) for pid in server.pids)
        before["redis"] = {port: redis_info(port) for port in ports}

    args = scenario_args(server.url, scenario, opts, seed_file, "--connections", str(opts.connections))
    result = loadgen(args, mark)
    count = max(result["requests"], 1)
    result["server_cpu_us"] = round(
        (sum(cpu_seconds(pid) for pid in server.pids) - before["cpu"]) / count * 1e6, 1
    )
    nodes = {}
    for port in ports:
        calls, cpu, _ = redis_info(port)
        was_calls, was_cpu, _ = before["redis"][port]
        nodes[str(port)] = {
            "commands_per_request": round((calls - was_calls) / count, 2),
            "cpu_us_per_request": round((cpu - was_cpu) / count * 1e6, 1),
        }
    result["redis_nodes"] = nodes
    result["redis_cpu_us"] = round(sum(n["cpu_us_per_request"] for n in nodes.values()), 1)
    return result


def spread(cluster: BenchCluster, tenants: list[str]) -> dict[str, int]:
    """How many tenants each primary holds (each tenant is the slot of its scope)."""
    share = 16384 // len(cluster.ports)
    counts = {str(port): 0 for port in cluster.ports}
    for tenant in tenants:
        slot = key_slot(Keys(PREFIX, tenant).scope)
        counts[str(cluster.ports[min(slot // share, len(cluster.ports) - 1)])] += 1
    return counts


def one_target(
    name: str, url: str, ports: list[int], opts: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    server = Server(url, folder)
    try:
        seed_file = folder / f"seed-{name}.json"
        seed_file.write_text(json.dumps(trio.run(seed, server.url, tenant_names(opts.tenants))))
        return {scenario: measure(server, ports, scenario, opts, seed_file) for scenario in ("get", "create")}
    finally:
        server.stop()


def one_run(opts: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        single = RedisProcess(folder / "single")
        single.start()
        try:
            standalone = one_target("standalone", single.url, [single.port], opts, folder)
        finally:
            single.stop()
        (folder / "cluster").mkdir()
        cluster = BenchCluster(folder / "cluster", 3)
        try:
            cluster.start()
            url = f"redis+cluster://127.0.0.1:{cluster.ports[0]}"
            clustered = one_target("cluster3", url, cluster.ports, opts, folder)
            clustered["tenants_per_node"] = spread(cluster, tenant_names(opts.tenants))
        finally:
            cluster.stop()
    return {"standalone": standalone, "cluster3": clustered}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for target in ("standalone", "cluster3"):
        for scenario in ("get", "create"):
            rows = [run[target][scenario] for run in runs]
            out[f"{target}_{scenario}"] = {
                key: statistics.median(row[key] for row in rows)
                for key in ("throughput", "p50_ms", "p99_ms", "server_cpu_us", "redis_cpu_us")
                if key in rows[0]
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=100)
    opts = parser.parse_args()
    runs = [one_run(opts) for _ in range(opts.runs)]
    report = {"runs": runs, "median": summary(runs), "tenants": opts.tenants}
    (RESULTS / "cluster.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["median"]))


if __name__ == "__main__":
    main()
