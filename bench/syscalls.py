"""System calls per getMeeting: the server and the Node.js reference, counted by `perf trace`.

    python bench/syscalls.py [--seconds 3]

CPU time per request tells how much each server costs; this tells how much of the
difference the kernel can explain. Each server runs pinned as in bench/run.py, under the
same closed-loop load from bench/loadgen.py (100 connections, `get`), while
`perf trace -s -p <pid>` counts its system calls for `--seconds`; the counts are divided
by the requests answered in that time (the load generator's rate). Needs `perf` with
access to the syscall tracepoints (root, or kernel.perf_event_paranoid <= -1) and `node`
for the reference. Prints one JSON object: per server, the rate and calls per request.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio
from run import Reference, Server, get_references, loadgen, node_ready, scenario_args, seed

from roomful_meetings.storage.embedded import RedisProcess

# A line of perf trace's summary: name, calls, errors, total ms, ...
_SUMMARY_LINE = re.compile(r"^\s+(\w+)\s+(\d+)\s+\d+\s+[\d.]+", re.M)


def per_request(pid: int, url: str, seed_file: Path, opts: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Load the server at `url` and count the system calls of process `pid` meanwhile."""
    tracing: list[subprocess.Popen[bytes]] = []

    def start_tracing() -> None:
        command = ["timeout", "-s", "INT", str(opts.seconds), "perf", "trace", "-s", "-p", str(pid)]
        with out.open("wb") as sink:
            tracing.append(subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT))

    load = argparse.Namespace(seconds=opts.seconds + 3)  # the trace ends inside the window
    result = loadgen(scenario_args(url, "get", load, seed_file), start_tracing)
    tracing[0].wait()
    counts: dict[str, int] = {}
    for name, calls in _SUMMARY_LINE.findall(out.read_text()):
        counts[name] = counts.get(name, 0) + int(calls)
    requests = result["throughput"] * opts.seconds
    by_count = sorted(counts.items(), key=lambda item: -item[1])
    return {
        "throughput": result["throughput"],
        "syscalls_per_request": round(sum(counts.values()) / requests, 3),
        "by_call": {
            name: round(calls / requests, 3) for name, calls in by_count if calls / requests >= 0.001
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    opts = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("bench/syscalls.py needs perf (Debian: linux-perf)")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        redis = RedisProcess(folder / "redis")
        redis.start()
        try:
            server = Server(redis.url, folder)
            try:
                seed_file = folder / "seed.json"
                seed_file.write_text(json.dumps(trio.run(seed, server.url)))
                out["get"] = per_request(server.proc.pid, server.url, seed_file, opts, folder / "get.txt")
            finally:
                server.stop()
            if node_ready():
                node = Reference(get_references(redis.port, True)["node_get"])
                try:
                    out["node_get"] = per_request(
                        node.proc.pid, node.url, seed_file, opts, folder / "node.txt"
                    )
                finally:
                    node.stop()
        finally:
            redis.stop()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
