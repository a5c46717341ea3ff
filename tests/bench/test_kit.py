"""The benchmark kit works (its numbers are in bench/results, not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
from run import Reference, server_median_ms  # noqa: E402


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
