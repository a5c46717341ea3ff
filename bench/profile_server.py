"""Profile the server under one scenario of bench/run.py with py-spy (the bench extra).

    .venv/bin/python bench/profile_server.py [--scenario get] [--seconds 8] [--out bench/results/profile-get]

Starts a private redis-server and one `roomful-meetings serve` pinned to the server core,
seeds the data set as bench/run.py does, runs the scenario with bench/loadgen.py on the
other core while `py-spy record` samples the server, and prints the largest costs: the
share of samples under each function (inclusive) and where samples end (exclusive).
Writes the collapsed stacks to --out.txt (flamegraph.pl and speedscope read them).
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import trio
from run import RESULTS, SECRET, Server, loadgen, pin, seed

from roomful_meetings.storage.embedded import RedisProcess

LOAD_CORE = 1


def top(collapsed: Path, count: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    exclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = [
            f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].split(":")[0].rstrip(")") for f in stack.split(";")
        ]
        n = int(samples)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        exclusive[frames[-1]] += n
    out = [f"{total} samples", "", "inclusive:"]
    out += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(count)]
    out += ["", "exclusive (where samples end):"]
    out += [f"{100 * n / total:5.1f}%  {frame}" for frame, n in exclusive.most_common(count)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="get")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--top", type=int, default=40)
    opts = parser.parse_args()
    out = opts.out or RESULTS / f"profile-{opts.scenario}"
    with tempfile.TemporaryDirectory(prefix="roomful-profile-") as tmp:
        folder = Path(tmp)
        redis = RedisProcess(folder / "redis")
        redis.start()
        assert redis.proc is not None
        pin(redis.proc.pid, LOAD_CORE)
        server = Server(redis.url, folder)
        try:
            seed_file = folder / "seed.json"
            seed_file.write_text(json.dumps(trio.run(seed, server.url)))
            raw = out.with_suffix(".txt")
            spy: list[subprocess.Popen[bytes]] = []

            def start_sampling() -> None:
                command = [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(server.proc.pid),
                    "--format",
                    "raw",
                ]
                command += ["--duration", str(int(opts.seconds)), "--rate", "250", "--output", str(raw)]
                spy.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

            args = ["--url", server.url, "--scenario", opts.scenario, "--seconds", str(opts.seconds + 1)]
            args += ["--secret", SECRET, "--seed", str(seed_file), "--connections", str(opts.connections)]
            result = loadgen(args, start_sampling)
            spy[0].wait()
            print(json.dumps({k: result[k] for k in ("throughput", "p50_ms", "p99_ms")}))
            print(top(raw, opts.top))
        finally:
            server.stop()
            redis.stop()


if __name__ == "__main__":
    main()
