"""The embedded Redis is kept alive: killed for real, it comes back on its port, the server
serves again, and `roomful_redis_up` shows the outage; one left running by a server that was
killed is taken over by the next."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import trio

from roomful_meetings import metrics
from roomful_meetings.app import Running, run_server
from roomful_meetings.client import connect
from roomful_meetings.config import Settings
from roomful_meetings.storage.embedded import _is_alive, embedded_redis, free_port
from roomful_meetings.storage.redis import RedisAddress, RedisError, open_redis
from tests.conftest import SECRET, token
from tests.processes import CLI, clean_env, serving


def redis_up() -> float | None:
    return metrics.REGISTRY.get_sample_value("roomful_redis_up")


async def redis_pid(address: RedisAddress) -> int | None:
    """The pid redis-server reports for itself, or None while it is down."""
    async with open_redis(address, pool_size=1, connect_timeout=0.5) as redis:
        with trio.move_on_after(2):
            await redis.wait_connected()
        try:
            info = (await redis.execute("INFO", "server")).decode()
        except RedisError:
            return None
    return int(info.split("process_id:")[1].split()[0])


async def until(check_passes: Callable[[], Awaitable[bool]]) -> None:
    """Poll a condition the server reaches by itself (a restart has no event to wait on)."""
    with trio.fail_after(30):
        while not await check_passes():  # noqa: ASYNC110 (another process: no trio.Event)
            await trio.sleep(0.01)


async def test_a_killed_embedded_redis_is_restarted_and_the_gauge_shows_the_outage(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    settings = Settings(port=0, redis_url="", data_dir=tmp_path / "var", jwt_secret=SECRET)
    stop = trio.Event()
    running: Running = await nursery.start(run_server, settings, stop)
    embedded = running.redis
    assert isinstance(embedded, RedisAddress)  # the embedded Redis: one server
    url = f"ws://127.0.0.1:{running.port}"
    assert redis_up() == 1.0
    killed = await redis_pid(embedded)
    assert killed is not None

    async def gauge_reads(value: float) -> bool:
        return redis_up() == value

    async def restarted() -> bool:
        pid = await redis_pid(embedded)
        return pid is not None and pid != killed

    os.kill(killed, signal.SIGKILL)
    await until(lambda: gauge_reads(0.0))
    await until(restarted)
    await until(lambda: gauge_reads(1.0))
    async with connect(url, token("alice")) as alice:
        await alice.next_push("connection:ready")
        reply = await alice.request("meeting:getMeeting", {"meetingId": "nothing"})
        assert reply.error is not None and reply.error.code == 404  # answered by Redis again
    stop.set()


def test_process_metrics_are_exposed() -> None:
    text = metrics.exposition().decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"):
        assert f"\n{name}" in text, name
    assert "# TYPE roomful_redis_up gauge" in text


def answers(port: int, request: bytes, expected: bytes) -> bool:
    """Whether what listens on `port` answers `request` with a reply starting `expected`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(request)
            return sock.recv(64).startswith(expected)
    except OSError:
        return False


def pings(port: int, data: Path) -> bool:
    """Whether the embedded Redis of the data folder `data` answers on `port`."""
    password = (data / "redis" / "password").read_text().strip()
    return answers(port, f"AUTH {password}\r\nPING\r\n".encode(), b"+OK\r\n+PONG")


def ready(http_port: int) -> bool:
    return answers(http_port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200")


def wait_for(check_passes: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not check_passes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def redis_servers_in(folder: Path) -> dict[int, int]:
    """pid: parent pid of each redis-server running in `folder`."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes() if entry.name.isdigit() else b""
            if b"redis-server" in command and str(folder) in os.readlink(entry / "cwd"):
                found[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    return found


def test_a_server_started_after_a_crash_runs_and_restarts_the_redis_left_behind(tmp_path: Path) -> None:
    """README: with no --redis-url the server "runs its own redis-server ... and restarts it
    if it dies". After `kill -9` of the server (a crash, the OOM killer) its redis-server is
    left running; the next `serve` on that folder takes it over (same port, same data) and
    restarts it when it dies, rather than using it unwatched as another instance's."""
    data = tmp_path / "var"
    port_file = data / "redis" / "port"
    command = [*CLI, "serve", "--port", "0", "--data-dir", str(data), "--jwt-secret", SECRET]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen(command, env=clean_env(), stderr=subprocess.DEVNULL))
        assert wait_for(lambda: port_file.exists() and pings(int(port_file.read_text()), data))
        redis_port = int(port_file.read_text())
        procs[0].kill()
        procs[0].wait()
        assert len(redis_servers_in(data)) == 1  # left running, nobody watching over it
        http = free_port()
        procs.append(
            subprocess.Popen([*command, "--http-port", str(http)], env=clean_env(), stderr=subprocess.DEVNULL)
        )
        assert wait_for(lambda: ready(http)), "the restarted server never became ready"
        assert int(port_file.read_text()) == redis_port
        assert list(redis_servers_in(data).values()) == [procs[1].pid], "the orphan was not taken over"
        (orphan_pid,) = redis_servers_in(data)
        os.kill(orphan_pid, signal.SIGKILL)
        assert wait_for(lambda: orphan_pid not in redis_servers_in(data) and pings(redis_port, data))
        assert wait_for(lambda: ready(http))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        for pid in redis_servers_in(data):  # one left by a failed test
            os.kill(pid, signal.SIGKILL)


def test_an_owner_killed_and_not_yet_reaped_counts_as_gone() -> None:
    """A server killed a moment ago may still be a zombie (its parent not yet told): it
    answers signals, but the Redis it ran is an orphan for the next server to take over."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        child.kill()
        time.sleep(0.2)  # dead, not reaped
        assert not _is_alive(child.pid)
    finally:
        child.wait()
    assert _is_alive(os.getppid())


def test_the_embedded_redis_asks_for_a_password_kept_in_the_data_folder(tmp_path: Path) -> None:
    """It listened on 127.0.0.1 with no password (protected mode does not cover loopback):
    any user of the host could read and rewrite every meeting, or `CONFIG SET dir` to make
    Redis write files as the server's user. Its password is made on first start, kept
    0600 beside the JWT secret, and never on a command line `ps` shows."""
    data = tmp_path / "var"
    with serving("--data-dir", str(data), quiet=True):
        port = int((data / "redis" / "port").read_text())
        assert answers(port, b"CONFIG GET dir\r\n", b"-NOAUTH")
        password_file = data / "redis" / "password"
        assert password_file.stat().st_mode & 0o777 == 0o600
        assert (data / "redis").stat().st_mode & 0o777 == 0o700  # and the data files Redis writes
        password = password_file.read_text().strip()
        assert len(password) >= 32 and pings(port, data)
        assert answers(port, b"AUTH not-it\r\nPING\r\n", b"-WRONGPASS")
        (redis_pid,) = redis_servers_in(data)
        assert password.encode() not in Path(f"/proc/{redis_pid}/cmdline").read_bytes()
    with serving("--data-dir", str(data), quiet=True):  # the same password the next time
        assert password_file.read_text().strip() == password
        assert pings(int((data / "redis" / "port").read_text()), data)


def test_a_server_sharing_the_embedded_redis_follows_it_after_its_owner_restarts(tmp_path: Path) -> None:
    """A second `serve` on the folder shares the first one's embedded Redis. Once the first
    was restarted (a deploy), its new Redis listened on another port (the port file was
    removed on a clean stop) and the second waited for ever on the old one, 503."""
    data = tmp_path / "var"
    first_http, second_http, again_http = free_port(), free_port(), free_port()
    with ExitStack() as first:
        first.enter_context(serving("--data-dir", str(data), "--http-port", str(first_http), quiet=True))
        redis_port = int((data / "redis" / "port").read_text())
        with serving("--data-dir", str(data), "--http-port", str(second_http), quiet=True):
            assert wait_for(lambda: ready(second_http), 10)
            first.close()  # SIGTERM: it drains and stops its embedded Redis
            assert not (data / "redis" / "owner").exists()
            with serving("--data-dir", str(data), "--http-port", str(again_http), quiet=True):
                assert wait_for(lambda: ready(again_http), 10)
                assert int((data / "redis" / "port").read_text()) == redis_port
                assert wait_for(lambda: ready(second_http), 10), "the sharer never reconnects"


async def test_the_embedded_redis_restores_a_backup_dump_rdb(tmp_path: Path) -> None:
    """docs/operations.md:263-270: back up the embedded Redis's `<data-dir>/redis/dump.rdb`;
    restore by putting it back and moving `appendonlydir/` out. The embedded Redis always
    starts with `--appendonly yes`, so Redis 7 makes an empty AOF and ignores the dump: the
    server then marks the empty database as new and serves it, the backup silently unused
    (and the docs' "start Redis once with --appendonly no" has no way to be done for it)."""
    data = tmp_path / "var"
    async with embedded_redis(data) as address, open_redis(address, pool_size=1) as redis:
        await redis.wait_connected()
        await redis.execute("SET", "rm:{default}:m:kept", "a meeting")
        await redis.execute("SAVE")
    backup = tmp_path / "backup.rdb"
    shutil.copy(data / "redis" / "dump.rdb", backup)
    # Restore as documented: servers and Redis stopped, dump.rdb in place, AOF moved out.
    shutil.move(data / "redis" / "appendonlydir", tmp_path / "aof.moved")
    shutil.copy(backup, data / "redis" / "dump.rdb")
    async with embedded_redis(data) as address, open_redis(address, pool_size=1) as redis:
        with trio.fail_after(10):
            await redis.wait_connected()
        assert await redis.execute("GET", "rm:{default}:m:kept") == b"a meeting"
