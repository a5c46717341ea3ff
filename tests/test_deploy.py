"""The example nginx configuration, run for real in front of instances (deploy/nginx)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "deploy" / "nginx" / "check.py"
sys.path.insert(0, str(CHECK.parent))
from check import nginx_binary  # noqa: E402


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_two_instances_behind_the_example_nginx_config_share_events_and_survive_a_stop() -> None:
    run = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reached bob on the other instance" in run.stdout
    assert "got the event made meanwhile" in run.stdout
    assert "not its query" in run.stdout
    # docs/calendar.md: publish /calendar/ only; its token is the path, kept out of the log
    assert "a calendar feed came through nginx's /calendar/, logged without its token" in run.stdout


def test_the_example_config_is_rendered_with_the_given_ports(tmp_path: Path) -> None:
    from check import EXAMPLE, render_config

    text = render_config(EXAMPLE.read_text(), 9999, [7001, 7002], tmp_path, [7101, 7102])
    assert "listen 127.0.0.1:9999;" in text
    assert text.count("server 127.0.0.1:") == 4 and "127.0.0.1:7002 max_fails=1" in text
    feeds = text[text.index("upstream roomful_meetings_feeds") :]
    assert "127.0.0.1:7101 max_fails=1" in feeds and "127.0.0.1:7102 max_fails=1" in feeds
    assert "least_conn" in text and "proxy_set_header Upgrade $http_upgrade" in text
    assert f"access_log {tmp_path}/roomful-meetings.access.log roomful_no_query;" in text


def test_the_feed_log_format_leaves_the_token_in_the_path_out() -> None:
    """A calendar feed's secret is its path (/calendar/<token>.ics): the /calendar/
    location logs with a format that has no variable holding the path."""
    from check import EXAMPLE

    text = EXAMPLE.read_text()
    log_format = text[text.index("log_format roomful_feed") : text.index("upstream roomful_meetings")]
    for leaky in ("$uri", "$request ", "$request_uri", "$document_uri", '$request"', "$request'"):
        assert leaky not in log_format, leaky
    location = text[text.index("location /calendar/") :]
    assert "roomful_feed;" in location[: location.index("}")]


def test_the_example_access_log_format_leaves_the_query_string_out() -> None:
    from check import EXAMPLE

    text = EXAMPLE.read_text()
    log_format = text[text.index("log_format roomful_no_query") : text.index("upstream roomful_meetings")]
    assert "$uri" in log_format
    for leaky in ("$request ", "$request_uri", "$args", "$query_string", '$request"', "$request'"):
        assert leaky not in log_format, leaky


def test_the_systemd_units_advice_on_workers_gives_every_process_its_own_health_port() -> None:
    """The unit's way to more processes (ROOMFUL_WORKERS=N for one instance, in a drop-in)
    must not give two processes one health port: the instances it says to leave out are
    exactly those whose health ports that instance's workers take, and the shared
    environment file, which every instance reads, is not where workers are set."""
    unit = (ROOT / "deploy" / "systemd" / "roomful-meetings@.service").read_text()
    exec_start = re.search(r"^ExecStart=.*--http-port (\S+)", unit, re.M)
    assert exec_start
    drop_in = re.search(
        r"systemctl edit roomful-meetings@(\d)`.*\n.*\n#\s+Environment=ROOMFUL_WORKERS=(\d+)", unit
    )
    assert drop_in, "the unit says how to give one instance several workers"
    instance, workers = int(drop_in[1]), int(drop_in[2])
    left_out = re.search(r"run no @(\d)-@(\d) beside it", unit)
    assert left_out

    def health_port(of: int) -> int:
        return int(exec_start[1].replace("%i", str(of)))

    taken = {health_port(instance) + i for i in range(workers)}
    running = [n for n in range(1, 10) if n != instance and not int(left_out[1]) <= n <= int(left_out[2])]
    assert taken.isdisjoint(health_port(n) for n in running)
    assert all(health_port(n) in taken for n in range(int(left_out[1]), int(left_out[2]) + 1))
    shared = unit[unit.index("/etc/roomful-meetings/env (") : unit.index("[Unit]")]
    assert "ROOMFUL_WORKERS=" not in shared


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_the_example_config_keeps_tokens_out_of_every_log_when_an_instance_is_down(tmp_path: Path) -> None:
    """CONTRACT 13: the shipped proxy configuration strips ?token= from its logs, also when
    an instance refuses the connection (a restart, a deploy): nginx's error log, which
    quotes the request line, does not get it; the access log says which instance failed."""
    from check import EXAMPLE, render_config

    from roomful_meetings.storage.embedded import free_port

    listen, down = free_port(), [free_port(), free_port()]
    config = tmp_path / "nginx.conf"
    config.write_text(render_config(EXAMPLE.read_text(), listen, down, tmp_path))
    binary = nginx_binary()
    assert binary is not None
    nginx = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", listen), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        with sock:
            sock.sendall(
                b"GET /?token=eyJSECRET.TOKEN.VALUE HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            assert sock.recv(100).startswith(b"HTTP/1.1 502")
    finally:
        nginx.terminate()
        nginx.wait(10)
    logs = {path.name: path.read_text() for path in tmp_path.glob("*.log")}
    for name, text in logs.items():
        assert "eyJSECRET" not in text, f"{name}: {text}"
    access = logs["roomful-meetings.access.log"]
    assert '"GET / HTTP/1.1" 502' in access and "upstream_status=502, 502" in access, access
