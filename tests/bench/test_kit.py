"""The benchmark kit works (its numbers are in bench/results, not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import trio  # noqa: E402
from run import Reference, server_median_ms  # noqa: E402

from roomful_meetings.client import connect  # noqa: E402
from roomful_meetings.storage.embedded import RedisProcess  # noqa: E402
from tests.conftest import SECRET, ServerHandle, token  # noqa: E402
from tests.e2e.world import meeting, seed  # noqa: E402


def test_the_server_median_is_read_off_its_histogram() -> None:
    before = {0.001: 0, 0.0025: 0, 0.005: 0, 0.01: 0, float("inf"): 0}
    after = {0.001: 10, 0.0025: 30, 0.005: 90, 0.01: 100, float("inf"): 100}
    median, share = server_median_ms(before, after)
    assert share == 0.9  # 90 of 100 at or under 5 ms
    assert 2.5 < median < 5.0  # the 50th request lies in the (2.5, 5] ms bucket


def test_the_load_generator_drives_the_echo_reference(tmp_path: Path) -> None:
    echo = Reference.trio("echo")
    try:
        seed = tmp_path / "seed.json"
        seed.write_text(json.dumps({"users": ["u0"], "meetings": ["m0"]}))
        run = subprocess.run(
            [sys.executable, str(BENCH / "loadgen.py"), "--url", echo.url, "--scenario", "echo",
             "--connections", "4", "--seconds", "0.5", "--seed", str(seed)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        echo.stop()
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[0] == {"measuring": True}
    result = lines[-1]
    assert result["requests"] > 0 and result["errors"] == 0 and result["p50_ms"] > 0


def test_fan_out_receivers_count_whole_frames_only() -> None:
    from loadgen import count_frames

    from roomful_meetings.protocol.websocket import text_frame

    ping = bytes([0x89, 4]) + b"abcd"  # control frames are not deliveries
    data = bytearray(text_frame(b"x" * 10) + ping + text_frame(b"y" * 300) + text_frame(b"z" * 70_000))
    assert count_frames(data) == (3, len(data))
    assert count_frames(data[:-1]) == (2, len(data) - len(text_frame(b"z" * 70_000)))


def test_the_load_generator_drives_the_broadcast_reference() -> None:
    broadcast = Reference.trio("broadcast")
    try:
        run = subprocess.run(
            [sys.executable, str(BENCH / "loadgen.py"), "--url", broadcast.url, "--scenario", "broadcast",
             "--receivers", "5", "--in-flight", "2", "--seconds", "0.5"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        broadcast.stop()
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["deliveries_per_second"] > 0 and result["receivers"] == 5 and result["p50_ms"] > 0


async def test_the_asyncio_reference_answers_the_projects_meetings(
    server: ServerHandle, redis_server: RedisProcess, tmp_path: Path
) -> None:
    """The getMeeting references read the project's keys with its own script: when the key
    scheme moves, they must move with it (they once answered every request with a 404,
    which a benchmark took for speed)."""
    from run import get_meeting_args

    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        mid = (await alice.call("meeting:createMeeting", meeting(invited=["bob"])))["meeting"]["meetingId"]
    reference = Reference(
        [sys.executable, str(BENCH / "references" / "asyncio_get.py"),
         *get_meeting_args(redis_server.port, server.settings.key_prefix)]
    )  # fmt: skip
    try:
        seeded = tmp_path / "seed.json"
        seeded.write_text(json.dumps({"users": ["bob"], "meetings": [mid]}))
        run = await trio.run_process(
            [sys.executable, str(BENCH / "loadgen.py"), "--url", reference.url, "--scenario", "get",
             "--connections", "2", "--seconds", "0.5", "--seed", str(seeded), "--secret", SECRET],
            capture_stdout=True, capture_stderr=True,
        )  # fmt: skip
    finally:
        reference.stop()
    result = json.loads(run.stdout.decode().splitlines()[-1])
    assert result["requests"] > 0 and result["errors"] == 0


def test_the_script_cost_counts_creates_under_callgrind() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / "script_cost.py"), "--warm", "50", "--measure", "20", "--top", "3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["creates"] == 20
    # A create runs a Lua script of dozens of commands: hundreds of thousands of instructions.
    assert 100_000 < out["instructions_per_create"] < 5_000_000
    assert len(out["top"]) == 3 and all(row["instructions"] > 0 for row in out["top"])
