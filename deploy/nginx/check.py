"""Run deploy/nginx/roomful-meetings.conf for real: instances behind Debian's nginx.

    apt-get install nginx-light        # or nginx
    .venv/bin/python deploy/nginx/check.py [--instances 3]

Starts a private redis-server, N `roomful-meetings serve` processes and an unprivileged
nginx (its own prefix in a temporary folder) with the example configuration, its ports
rewritten to free ones. Then, all through nginx:

1. every instance is ready (`/readyz`) and takes websocket connections (least_conn spreads
   alice and bob over two instances: checked on each instance's /metrics);
2. a meeting alice creates reaches bob, connected to another instance;
3. bob's instance is stopped with SIGTERM: bob's client reconnects through nginx to
   another instance with since=, and an event made meanwhile still reaches him once;
4. a browser-style connection with ?token= is logged by nginx without its query string;
5. a calendar feed is fetched through /calendar/ and logged without its token.

Prints what it checks and exits 1 on the first failure. tests/test_deploy.py runs it when
nginx is installed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import trio
from trio_websocket import open_websocket_url

from roomful_meetings.auth import mint_token
from roomful_meetings.client import open_client
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.events import MeetingEvent
from roomful_meetings.storage.embedded import RedisProcess, free_port, stop_process

EXAMPLE = Path(__file__).with_name("roomful-meetings.conf")
SECRET = "nginx-check-secret-nginx-check-secret"
MARCH_4 = datetime(2030, 3, 4, 10, tzinfo=UTC)
MARCH_4_END = datetime(2030, 3, 4, 11, tzinfo=UTC)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(path, os.X_OK)), None
    )


def with_upstreams(example: str, addresses: list[str], feed_addresses: list[str] | None = None) -> str:
    """The example with its upstream servers replaced by these host:port addresses: the
    websocket ports (808x), and the --http-port of each (908x) when given."""
    for port_prefix, given in (("808", addresses), ("908", feed_addresses)):
        if given is not None:
            servers = "\n".join(f"    server {address} max_fails=1 fail_timeout=5s;" for address in given)
            pattern = rf"(    server 127\.0\.0\.1:{port_prefix}\d [^\n]*\n)+"
            example = re.sub(pattern, servers + "\n", example, count=1)
    return example


# compose.yaml runs the example with its two instances as upstreams; a test keeps the file equal
# to this (`python deploy/nginx/check.py --compose-config > deploy/compose/nginx.conf`).
COMPOSE_UPSTREAMS: Final = ["meetings-1:8765", "meetings-2:8765"]
COMPOSE_FEED_UPSTREAMS: Final = ["meetings-1:9765", "meetings-2:9765"]
COMPOSE_HEADER: Final = (
    "# Generated from deploy/nginx/roomful-meetings.conf for compose.yaml (its upstreams are the\n"
    "# compose services): python deploy/nginx/check.py --compose-config > deploy/compose/nginx.conf\n"
)


def compose_config() -> str:
    return COMPOSE_HEADER + with_upstreams(EXAMPLE.read_text(), COMPOSE_UPSTREAMS, COMPOSE_FEED_UPSTREAMS)


def render_config(
    example: str, listen: int, instances: list[int], folder: Path, http_ports: list[int] | None = None
) -> str:
    """The example with our ports, wrapped in a minimal nginx.conf that runs unprivileged."""
    feeds = None if http_ports is None else [f"127.0.0.1:{port}" for port in http_ports]
    body = with_upstreams(example, [f"127.0.0.1:{port}" for port in instances], feeds)
    body = body.replace("listen 8080;", f"listen 127.0.0.1:{listen};")
    body = body.replace("/var/log/nginx/", f"{folder}/")
    temp = "\n".join(
        f"    {kind}_temp_path {folder}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{\n    access_log {folder}/access.log;\n{temp}\n{body}\n}}\n"
    )


def start_instance(redis_url: str, port: int, http_port: int, logs: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "roomful_meetings", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--http-port", str(http_port), "--redis-url", redis_url]
    command += ["--jwt-secret", SECRET, "--key-prefix", "nginxcheck:"]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=(logs / f"instance-{port}.log").open("wb")
    )


async def http_get(port: int, path: str) -> tuple[int, str]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body


async def wait_ready(http_port: int) -> None:
    with trio.fail_after(30):
        while True:
            try:
                if (await http_get(http_port, "/readyz"))[0] == 200:
                    return
            except OSError:
                pass
            await trio.sleep(0.1)


async def connections(http_port: int) -> float:
    _, body = await http_get(http_port, "/metrics")
    match = re.search(r"^roomful_connections(?:\{[^}]*\})? ([0-9.e+]+)$", body, re.M)
    return float(match.group(1)) if match else 0.0


def token(user: str, admin: bool = False) -> str:
    return mint_token(SECRET, user, admin=admin, ttl_seconds=600)


def say(text: str) -> None:
    print(f"nginx check: {text}", flush=True)


async def next_meeting(client: object) -> MeetingEvent:
    async for event in client.events():  # type: ignore[attr-defined]
        if isinstance(event.data, MeetingEvent):
            return event.data
    raise AssertionError("event stream ended")


async def run_checks(
    url: str, instances: list[tuple[int, int, subprocess.Popen[bytes]]], folder: Path
) -> None:
    for _, http_port, _ in instances:
        await wait_ready(http_port)
    say(f"{len(instances)} instances ready")
    async with open_client(url, lambda: token("root", admin=True)) as admin:
        await admin.upsert_users([p.UserIn("alice"), p.UserIn("bob")])
        await admin.upsert_rooms([p.RoomIn("lobby", title="Lobby")])
    await trio.sleep(0.3)  # let the admin connection's close reach the gauges
    ports = [http_port for _, http_port, _ in instances]
    async with open_client(url, lambda: token("alice")) as alice:
        with_alice = await settled_counts(ports)
        async with open_client(url, lambda: token("bob")) as bob:
            with_bob = await settled_counts(ports)
            bobs = next(i for i in range(len(ports)) if with_bob[i] > with_alice[i])
            alices = next(i for i in range(len(ports)) if with_alice[i] >= 1)
            assert bobs != alices, f"both on one instance: {with_bob}"
            say(f"alice is on instance {alices + 1}, bob on instance {bobs + 1} (connections: {with_bob})")
            created = await alice.create_meeting(
                p.CreateMeeting(
                    "room", ["lobby"], "Through nginx", MARCH_4, MARCH_4_END, invitedUserIds=["bob"]
                )
            )
            with trio.fail_after(10):
                assert (await next_meeting(bob)).meeting.meetingId == created.meetingId
            say("alice's meeting reached bob on the other instance")

            # Stop bob's instance; he must come back through nginx to another one.
            victim = instances[bobs][2]
            victim.send_signal(signal.SIGTERM)
            with trio.fail_after(20):
                await bob.wait_disconnected()
            during = await alice.create_meeting(
                p.CreateMeeting(
                    "room", ["lobby"], "While bob moved", MARCH_4, MARCH_4_END, invitedUserIds=["bob"]
                )
            )
            with trio.fail_after(30):
                fetched = await bob.get_meeting(during.meetingId)
                assert fetched.subject == "While bob moved"
                assert (await next_meeting(bob)).meeting.meetingId == during.meetingId
            assert victim.wait(10) == 0, "the stopped instance did not exit 0"
            say("bob's instance stopped (exit 0); he came back through nginx and")
            say("got the event made meanwhile")
    async with open_websocket_url(f"{url}/browser?token={token('carol')}") as browser:
        assert '"connection:ready"' in await browser.get_message()
    await check_access_log(folder)
    await check_feed(url, folder)


async def check_feed(url: str, folder: Path) -> None:
    """A calendar feed is served through nginx's /calendar/, and its token (the path) does
    not reach the access log."""
    async with open_client(url, lambda: token("alice")) as alice:
        feed_path = urlsplit(await alice.get_calendar_feed()).path
    status, body = await http_get(int(url.rsplit(":", 1)[1]), feed_path)
    assert status == 200 and "BEGIN:VCALENDAR" in body, (status, body[:200])
    feed_token = feed_path.removeprefix("/calendar/").removesuffix(".ics")
    path = folder / "roomful-meetings.access.log"
    with trio.fail_after(10):
        while "/calendar/<token>.ics" not in (log := path.read_text()):  # noqa: ASYNC110 (nginx's file)
            await trio.sleep(0.05)
    assert feed_token not in log, log
    say("a calendar feed came through nginx's /calendar/, logged without its token")


async def check_access_log(folder: Path) -> None:
    """Tokens sent as ?token= must not reach nginx's access log (the path does). nginx logs a
    websocket when it ends, so wait for the line of the one just closed."""
    path = folder / "roomful-meetings.access.log"
    with trio.fail_after(10):
        while True:
            log = path.read_text() if path.exists() else ""
            if "GET /browser " in log:
                break
            await trio.sleep(0.05)
    assert "GET /browser HTTP/1.1" in log, log
    assert "token=" not in log and "?" not in log, log
    say("the access log names the path of the ?token= connection, not its query")


async def settled_counts(http_ports: list[int]) -> list[float]:
    """Connections per instance once a new connection has been counted."""
    await trio.sleep(0.2)
    return [await connections(port) for port in http_ports]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--compose-config", action="store_true", help="print deploy/compose/nginx.conf")
    args = parser.parse_args(argv)
    if args.compose_config:
        print(compose_config(), end="")
        return 0
    binary = nginx_binary()
    if binary is None:
        print("nginx is not installed: apt-get install nginx-light (or nginx)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="roomful-nginx-") as tmp:
        folder = Path(tmp)
        redis = RedisProcess(folder / "redis")
        redis.start()
        instances: list[tuple[int, int, subprocess.Popen[bytes]]] = []
        nginx = None
        try:
            for _ in range(args.instances):
                port, http_port = free_port(), free_port()
                instances.append((port, http_port, start_instance(redis.url, port, http_port, folder)))
            listen = free_port()
            config = folder / "nginx.conf"
            ports, http_ports = [i[0] for i in instances], [i[1] for i in instances]
            config.write_text(render_config(EXAMPLE.read_text(), listen, ports, folder, http_ports))
            test = subprocess.run(
                [binary, "-t", "-p", str(folder), "-c", str(config)], capture_output=True, text=True
            )
            if test.returncode != 0:
                print(test.stderr, file=sys.stderr)
                return 1
            nginx = subprocess.Popen([binary, "-p", str(folder), "-c", str(config), "-g", "daemon off;"])
            say(f"nginx {listen} -> instances {[i[0] for i in instances]}")
            trio.run(run_checks, f"ws://127.0.0.1:{listen}", instances, folder)
            say("all checks passed")
            return 0
        finally:
            if nginx is not None:
                stop_process(nginx, 10)
            for _, _, proc in instances:
                stop_process(proc, 20)
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
