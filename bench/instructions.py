"""Instructions per request of the server and of the echo reference, counted by callgrind.

    python bench/instructions.py [--scenario get] [--seconds 15] [--connections 20]

Wall-clock and CPU-time figures move 20-40 % with whatever else the machine runs; an
instruction count does not (valgrind counts what the process executes, whatever the load).
So this is the yardstick for work on the message path (issue 19): each server runs under
`valgrind --tool=callgrind` with instrumentation off while it starts and warms up, then on
for `--seconds` of closed-loop load from bench/loadgen.py (a separate process), and the
count is divided by the requests the server answered meanwhile (its own
`roomful_requests_total`, or the load generator's count for the echo reference).
Instructions are not time (a cache miss or a system call costs more than its count), so
the real figures stay bench/run.py's; this tells whether a change made the path shorter.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import trio
from run import HERE, PREFIX, REFERENCES, SECRET, Server, loadgen, metrics, scenario_args, seed

from roomful_meetings.storage.embedded import RedisProcess, free_port, stop_process

ENDPOINTS = {
    "get": "meeting:getMeeting",
    "create": "meeting:createMeeting",
    "rsvp": "meeting:acceptMeetingRequest",
}


def answered(http_port: int, endpoint: str) -> float:
    """The server's count of `endpoint` requests answered (every code)."""
    pattern = rf'^roomful_requests_total\{{[^}}]*endpoint="{re.escape(endpoint)}"[^}}]*\}} (\S+)$'
    return sum(float(n) for n in re.findall(pattern, metrics(http_port), re.M))


class Callgrind:
    """A command under callgrind, instrumentation off until `on`."""

    def __init__(self, command: list[str], folder: Path, name: str) -> None:
        self.out = folder / f"callgrind.{name}.out"
        args = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.out}"]
        self.proc = subprocess.Popen(
            [*args, *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )

    def control(self, *args: str) -> None:
        subprocess.run(
            ["callgrind_control", *args, str(self.proc.pid)], check=True, stdout=subprocess.DEVNULL
        )

    def instructions(self) -> int:
        """Dump and read the total of what was counted since `-i on`."""
        self.control("-d")
        time.sleep(0.5)
        total = 0
        for dump in self.out.parent.glob(self.out.name + "*"):
            text = dump.read_text(errors="replace")
            match = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            total += int(match.group(1)) if match else 0
        return total

    def top(self, count: int) -> str:
        """The functions that executed the most instructions (callgrind_annotate)."""
        dumps = sorted(self.out.parent.glob(self.out.name + "*"))
        found = subprocess.run(
            ["callgrind_annotate", "--inclusive=no", str(dumps[-1])], capture_output=True, text=True
        )
        lines = [line for line in found.stdout.splitlines() if re.match(r"\s*[\d,]+ \(", line)]
        return "\n".join(lines[: count + 1])

    def stop(self) -> None:
        stop_process(self.proc, 30)


def wait_ready(http_port: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server under callgrind did not start") from None
            time.sleep(0.5)


def count(
    target: Callgrind, url: str, opts: argparse.Namespace, seed_file: Path, http_port: int | None
) -> dict[str, Any]:
    scenario = "echo" if http_port is None else opts.scenario
    args = scenario_args(url, scenario, opts, seed_file, "--connections", str(opts.connections))
    warm = argparse.Namespace(**{**vars(opts), "seconds": 3.0})
    loadgen(
        scenario_args(url, scenario, warm, seed_file, "--connections", str(opts.connections)), lambda: None
    )
    target.control("-z")
    target.control("-i", "on")
    before = answered(http_port, ENDPOINTS[opts.scenario]) if http_port else 0.0
    result = loadgen(args, lambda: None)
    done = answered(http_port, ENDPOINTS[opts.scenario]) - before if http_port else float(result["requests"])
    instructions = target.instructions()  # dumped while still on: switching off drops the counts
    target.control("-i", "off")
    return {"requests": done, "instructions_per_request": round(instructions / max(done, 1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="get", choices=sorted(ENDPOINTS))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--top", type=int, default=0, help="print the server's N costliest C functions")
    parser.add_argument(
        "--keep", type=Path, help="copy the server's callgrind dump here (callgrind_annotate --tree=caller)"
    )
    opts = parser.parse_args()
    out: dict[str, Any] = {"scenario": opts.scenario}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        redis = RedisProcess(folder / "redis")
        redis.start()
        try:
            seeding = Server(redis.url, folder)
            try:
                seed_file = folder / "seed.json"
                seed_file.write_text(json.dumps(trio.run(seed, seeding.url)))
            finally:
                seeding.stop()
            port, http_port = free_port(), free_port()
            command = [sys.executable, "-m", "roomful_meetings", "serve", "--port", str(port)]
            command += ["--http-port", str(http_port), "--redis-url", redis.url, "--jwt-secret", SECRET]
            command += ["--key-prefix", PREFIX, "--log-level", "warning", "--rate-per-second", "1000000"]
            command += ["--rate-burst", "1000000"]
            server = Callgrind(command, folder, "server")
            try:
                wait_ready(http_port)
                out["server"] = count(server, f"ws://127.0.0.1:{port}", opts, seed_file, http_port)
                if opts.top:
                    print(server.top(opts.top), file=sys.stderr)
                if opts.keep:
                    shutil.copy(sorted(folder.glob(server.out.name + "*"))[-1], opts.keep)
            finally:
                server.stop()
            echo = Callgrind(
                [sys.executable, str(REFERENCES / "trio_ws.py"), "echo", "--port", str(free_port())],
                folder,
                "echo",
            )
            try:
                assert echo.proc.stdout is not None
                line = echo.proc.stdout.readline()
                echo_port = int(line.split()[1])
                out["echo"] = count(echo, f"ws://127.0.0.1:{echo_port}", opts, seed_file, None)
            finally:
                echo.stop()
        finally:
            redis.stop()
    server_count, echo_count = (
        out["server"]["instructions_per_request"],
        out["echo"]["instructions_per_request"],
    )
    out["server_vs_echo"] = round(server_count / max(echo_count, 1), 2)
    print(json.dumps(out))
    (HERE / "results" / f"instructions-{opts.scenario}.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
