"""The storage ceiling: EVALSHA round trips through three Redis clients, one run, side by side.

    python bench/redis_layer.py [--tasks 50] [--seconds 3] [--rounds 3] [--redis-url URL] [--no-cluster]

Each client runs the same small script (INCR of a key per task) from `--tasks` concurrent
trio tasks for `--seconds`, rounds interleaved so machine noise hits all three alike:

- `project`: roomful_meetings.storage.redis (the pooled, pipelined layer the server uses)
- `plain`: a bare trio socket per task with a hiredis reader (what a hand-written loop does)
- `plain_pipelined`: one bare socket shared by all tasks, commands pipelined, a reader task
  waking callers (the same design as `project` with nothing else: no timeouts, no pool)
- `coredis`: coredis on trio (the maintained alternative), one client shared by all tasks
- `cluster_1node`: `project`'s client in Cluster mode on a one-node cluster holding every
  slot: the same server work and pipelining, plus the slot routing (`cluster_vs_standalone`
  is its ratio to `project`: the cost of routing, target >= 0.9)
- `cluster_node_direct`: `project`'s standalone client on that same node (it holds every
  slot, so plain commands work): the same server as `cluster_1node`, so
  `cluster_vs_same_node` is the cost of the client's routing alone; `cluster_vs_standalone`
  also holds what a cluster-enabled redis-server costs per command over a plain one
- `cluster_3nodes`: the same on three primaries (no replicas); `cluster_3nodes_per_node` is
  its rate divided by three. On a small machine the client's one core is the limit, not
  the nodes, so this shows how the load spreads, not how far three nodes go

Without --redis-url private redis-servers are started (the clusters too, unless
--no-cluster). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hiredis
import trio

from roomful_meetings.storage.embedded import (
    RedisProcess,
    find_redis_server,
    free_port,
    redis_command,
    stop_process,
)
from roomful_meetings.storage.redis import RedisUnavailable, open_redis
from roomful_meetings.storage.redis.cluster import SLOTS
from roomful_meetings.storage.redis.connection import pack
from roomful_meetings.storage.redis.scripts import Script
from roomful_meetings.storage.redis.url import ClusterAddress, RedisAddress, Target, parse_redis_url

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


async def project(address: Target, tasks: int, seconds: float) -> float:
    async with open_redis(address) as redis:  # the server's default pool (per node on a cluster)
        await redis.wait_connected()
        while True:  # on a cluster: until every primary's pool is up
            try:
                await redis.load_scripts({SCRIPT.name: SCRIPT})
                break
            except RedisUnavailable:
                await trio.sleep(0.05)

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


def ask(port: int, *args: str | int) -> Any:
    """One command to a local node, synchronously (setting up the clusters)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(pack(args))
        reader = hiredis.Reader()
        while (reply := reader.gets()) is False:
            reader.feed(sock.recv(65536))
        return reply


class BenchCluster:
    """`nodes` primaries, no replicas, slots split evenly: CLUSTER ADDSLOTSRANGE and MEET."""

    def __init__(self, folder: Path, nodes: int) -> None:
        self.ports = [free_port() for _ in range(nodes)]
        self.buses = [free_port() for _ in range(nodes)]
        self.procs = []
        for port, bus in zip(self.ports, self.buses, strict=True):
            where = folder / str(port)
            where.mkdir(parents=True)
            options = [
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(bus),
                "--cluster-node-timeout",
                "1000",
            ]
            command = redis_command(find_redis_server(), port, where, persistent=False) + options
            self.procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    @property
    def address(self) -> ClusterAddress:
        return ClusterAddress(seeds=(RedisAddress(port=self.ports[0]),))

    def start(self) -> None:
        self._until(lambda port: ask(port, "PING") == b"PONG")
        share = SLOTS // len(self.ports)
        for i, port in enumerate(self.ports):
            last = SLOTS - 1 if i == len(self.ports) - 1 else (i + 1) * share - 1
            ask(port, "CLUSTER", "ADDSLOTSRANGE", i * share, last)
            if i:
                ask(port, "CLUSTER", "MEET", "127.0.0.1", self.ports[0], self.buses[0])
        self._until(lambda port: b"cluster_state:ok" in ask(port, "CLUSTER", "INFO"))

    def _until(self, check: Callable[[int], bool]) -> None:
        deadline = time.monotonic() + 30
        for port in self.ports:
            while True:
                try:
                    if check(port):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cluster node {port} not ready")
                time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc, 5)


async def measure(
    address: RedisAddress, tasks: int, seconds: float, rounds: int, clusters: dict[str, Target]
) -> dict[str, Any]:
    names = [*CLIENTS, *clusters]
    runs: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names:
            if name in clusters:
                runs[name].append(await project(clusters[name], tasks, seconds))
            else:
                runs[name].append(await CLIENTS[name](address, tasks, seconds))
            print(f"round {round_ + 1}/{rounds} {name}: {runs[name][-1]:,.0f}/s", file=sys.stderr)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    result = {
        "workload": f"EVALSHA ({SCRIPT_SOURCE.decode()}) from {tasks} concurrent tasks",
        "calls_per_second": runs,
        "median": medians,
        # The target compares against the faster of the two bare hiredis loops.
        "project_vs_plain": medians["project"] / max(medians["plain"], medians["plain_pipelined"]),
        "project_vs_coredis": medians["project"] / medians["coredis"],
    }
    if clusters:
        result["cluster_vs_standalone"] = medians["cluster_1node"] / medians["project"]
        result["cluster_vs_same_node"] = medians["cluster_1node"] / medians["cluster_node_direct"]
        result["cluster_3nodes_per_node"] = medians["cluster_3nodes"] / 3
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if args.redis_url:
        return await measure(parse_redis_url(args.redis_url), args.tasks, args.seconds, args.rounds, {})
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "standalone")
        clusters = (
            {}
            if args.no_cluster
            else {
                "cluster_1node": BenchCluster(Path(tmp) / "one", 1),
                "cluster_3nodes": BenchCluster(Path(tmp) / "three", 3),
            }
        )
        try:
            redis.start()
            for cluster in clusters.values():
                cluster.start()
            addresses: dict[str, Target] = {name: cluster.address for name, cluster in clusters.items()}
            if clusters:
                addresses["cluster_node_direct"] = RedisAddress(port=clusters["cluster_1node"].ports[0])
            return await measure(redis.address, args.tasks, args.seconds, args.rounds, addresses)
        finally:
            redis.stop()
            for cluster in clusters.values():
                cluster.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-url", default=None, help="a Redis you own (keys bench:* are written)")
    parser.add_argument("--no-cluster", action="store_true", help="skip the cluster scenarios")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    started = time.monotonic()
    result = trio.run(main_async, parse_args(argv))
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
