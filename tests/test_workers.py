"""`serve --workers N` as an operator runs it: real processes on one port, real signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import pytest
import trio

from roomful_meetings.client import connect
from roomful_meetings.storage.embedded import RedisProcess, free_port
from tests.conftest import SECRET, token
from tests.e2e.test_operations import http_get
from tests.processes import CLI, clean_env
from tests.test_embedded_restart import ready, wait_for
from tests.test_startup import EXIT_WAIT, wait_for_line
from tests.wsraw import open_raw


def two_free_ports() -> int:
    """A port p with p + 1 free too (worker 2's --http-port)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


class Workers:
    def __init__(
        self, proc: subprocess.Popen[str], port: int, http_ports: list[int], pids: list[int]
    ) -> None:
        self.proc, self.port, self.http_ports, self.pids = proc, port, http_ports, pids


@pytest.fixture
def workers(own_redis: RedisProcess, tmp_path: Path, prefix: str) -> Iterator[Workers]:
    http_port = two_free_ports()
    command = [*CLI, "serve", "--workers", "2", "--port", "0", "--http-port", str(http_port)]
    command += ["--redis-url", own_redis.url, "--jwt-secret", SECRET, "--key-prefix", prefix]
    command += ["--data-dir", str(tmp_path / "var")]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=clean_env())
    pids: list[int] = []
    try:
        line = wait_for_line(proc, "2 workers on ws://")[-1]
        match = re.search(r"ws://[^:]+:(\d+) \(pids (\d+) (\d+)\)", line)
        assert match, line
        pids = [int(match.group(2)), int(match.group(3))]
        yield Workers(proc, int(match.group(1)), [http_port, http_port + 1], pids)
    finally:
        # SIGTERM: the parent stops its workers (they run in sessions of their own, so a
        # SIGKILL of the parent alone leaves them to notice it themselves).
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        assert proc.stderr is not None
        proc.stderr.close()


async def wait_ready(http_port: int) -> None:
    with trio.fail_after(30):
        while True:
            try:
                if (await http_get(http_port, "/readyz"))[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            await trio.sleep(0.05)  # polling another process's readiness


def connections_of(metrics: str) -> dict[str, float]:
    return {
        w: float(v) for w, v in re.findall(r'^roomful_connections\{worker="(\d+)"\} (\S+)$', metrics, re.M)
    }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_workers_share_the_port_label_their_metrics_and_drain_together_on_sigterm(
    workers: Workers,
) -> None:
    for http_port in workers.http_ports:
        await wait_ready(http_port)
    url = f"ws://127.0.0.1:{workers.port}"
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(url, token(f"u{i}"))) for i in range(24)]
        for client in clients:
            assert (await client.next_push()).endpoint == "connection:ready"
        seen: dict[str, float] = {}
        for index, http_port in enumerate(workers.http_ports, start=1):
            seen |= connections_of((await http_get(http_port, "/metrics"))[1])
            assert set(seen) >= {str(index)}  # each worker labels its own samples
        # The kernel spreads connections over both listeners (all 24 on one: p = 2**-23).
        assert sum(seen.values()) == 24 and all(count > 0 for count in seen.values()), seen
        workers.proc.send_signal(signal.SIGTERM)
        assert await trio.to_thread.run_sync(workers.proc.wait, EXIT_WAIT) == 0
    assert not any(alive(pid) for pid in workers.pids)
    assert workers.proc.stderr is not None
    rest = workers.proc.stderr.read()
    assert "passing it to the workers" in rest and "Traceback" not in rest


async def test_a_worker_that_dies_is_reported_and_the_others_stopped(workers: Workers) -> None:
    for http_port in workers.http_ports:
        await wait_ready(http_port)
    os.kill(workers.pids[0], signal.SIGKILL)
    assert await trio.to_thread.run_sync(workers.proc.wait, EXIT_WAIT) == 128 + signal.SIGKILL
    assert not alive(workers.pids[1])
    assert workers.proc.stderr is not None
    rest = workers.proc.stderr.read()
    assert f"worker 1 (pid {workers.pids[0]}) was killed by SIGKILL; stopping the others" in rest


def test_workers_must_be_at_least_one() -> None:
    run = subprocess.run(
        [*CLI, "serve", "--workers", "0"], capture_output=True, text=True, env=clean_env(), timeout=EXIT_WAIT
    )
    assert run.returncode == 2 and "--workers" in run.stderr and "Traceback" not in run.stderr


def test_workers_whose_health_ports_run_past_65535_are_one_line_and_exit_2() -> None:
    """`--http-port 65535 --workers 2` asks for port 65536 for worker 2: a mistake in the
    settings, found before any worker starts (one line, exit 2, so the systemd unit's
    RestartPreventExitStatus=2 does not restart it in a loop)."""
    run = subprocess.run(
        [*CLI, "serve", "--port", "0", "--workers", "2", "--http-port", "65535", "--jwt-secret", SECRET],
        capture_output=True, text=True, env=clean_env(), timeout=EXIT_WAIT, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [run.stderr.strip()], run.stderr
    assert run.stderr.startswith("roomful-meetings: bad value for --http-port: 65535 (worker 2 of"), (
        run.stderr
    )


def test_a_worker_whose_health_port_is_taken_ends_the_group_with_its_exit_2(tmp_path: Path) -> None:
    """Worker 2 cannot listen on its --http-port: the command exits with worker 2's status
    (2, a mistake in the settings), not with that of worker 1, which the parent stopped."""
    http_port = two_free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", http_port + 1))
        taken.listen()
        run = subprocess.run(
            [*CLI, "serve", "--port", "0", "--workers", "2", "--http-port", str(http_port),
             "--redis-url", f"redis://127.0.0.1:{free_port()}/0", "--jwt-secret", SECRET,
             "--data-dir", str(tmp_path)],
            capture_output=True, text=True, env=clean_env(), timeout=EXIT_WAIT, check=False,
        )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert f"cannot listen on 127.0.0.1:{http_port + 1} (--http-port)" in run.stderr
    assert "worker 2 (pid" in run.stderr and "exited with code 2; stopping the others" in run.stderr


@contextmanager
def group_of_two(flags: list[str], env: dict[str, str]) -> Iterator[list[int]]:
    """`serve --workers 2 <flags>` until the block ends (given its workers' pids), then
    stopped with SIGTERM."""
    proc = subprocess.Popen(
        [*CLI, "serve", "--workers", "2", *flags], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = wait_for_line(proc, "2 workers on ws://")[-1]
        yield [int(pid) for pid in re.findall(r"\d+", line.split("(pids ")[1])]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(EXIT_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def running(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has)."""
    try:
        return " Z" not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:2]
    except FileNotFoundError:
        return False


def test_workers_whose_parent_is_killed_drain_and_stop(workers: Workers) -> None:
    """The workers run in sessions of their own, so that signals come from the parent only;
    a parent killed with SIGKILL (the OOM killer, `kill -9`) left them serving for good,
    holding the port: the next `serve --workers` on it then refused to start (exit 2)."""
    for http_port in workers.http_ports:
        assert wait_for(lambda: ready(http_port))  # noqa: B023 (called at once)
    workers.proc.kill()
    workers.proc.wait()
    assert wait_for(lambda: not any(running(pid) for pid in workers.pids), timeout=EXIT_WAIT), [
        command_line(pid) for pid in workers.pids if running(pid)
    ]


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_workers_get_secrets_in_their_environment_not_on_their_command_line(
    own_redis: RedisProcess, tmp_path: Path, prefix: str
) -> None:
    """The systemd unit keeps ROOMFUL_REDIS_URL (with its password) in an env file; the
    parent of `serve --workers N` put it on each worker's command line, which every user of
    the host reads in `ps`. A secret given as a flag stays on the parent's line only."""
    password = "Sw0rdfish-not-for-ps"
    command = ["redis-cli", "-p", str(own_redis.port), "CONFIG", "SET", "requirepass", password]
    subprocess.run(command, check=True, capture_output=True)
    feed_secret = "a-feed-secret-of-at-least-thirty-two-bytes"
    env = {**clean_env(), "ROOMFUL_REDIS_URL": f"redis://:{password}@127.0.0.1:{own_redis.port}/0"}
    http_port = two_free_ports()
    flags = ["--port", "0", "--http-port", str(http_port), "--jwt-secret", SECRET,
             f"--feed-secret={feed_secret}", "--key-prefix", prefix, "--data-dir", str(tmp_path / "var")]  # fmt: skip
    with group_of_two(flags, env) as pids:
        for port in (http_port, http_port + 1):  # each reached Redis with the password
            assert wait_for(lambda: ready(port))  # noqa: B023 (called at once)
        for pid in pids:
            assert f"--key-prefix={prefix}" in command_line(pid)  # the other flags are kept
            for secret in (password, SECRET, feed_secret):
                assert secret not in command_line(pid)


def test_a_second_group_on_the_port_of_a_first_is_one_line_and_exit_2(
    workers: Workers, tmp_path: Path, prefix: str
) -> None:
    """Both groups bound with SO_REUSEPORT, so a second `serve --workers 2` (another
    deployment: other prefix, other secret) took a port the first served, and the kernel
    handed each new client to either."""
    # Once the first group serves: while its workers are still starting, only the parent's
    # reserving socket holds the port, and two bound sockets that both set SO_REUSEADDR and
    # neither listens may share a port on Linux: a second group started in that moment is
    # not refused (a known gap); this checks the refusal of a group that serves.
    for http_port in workers.http_ports:
        assert wait_for(lambda: ready(http_port))  # noqa: B023 (called at once)
    run = subprocess.run(
        [*CLI, "serve", "--workers", "2", "--port", str(workers.port),
         "--redis-url", f"redis://127.0.0.1:{free_port()}/0", "--key-prefix", "other" + prefix,
         "--jwt-secret", SECRET + "-other", "--data-dir", str(tmp_path / "other")],
        capture_output=True, text=True, env=clean_env(), timeout=EXIT_WAIT, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [run.stderr.strip()], run.stderr
    assert run.stderr.startswith(f"roomful-meetings: cannot listen on 127.0.0.1:{workers.port} (--port): ")
    assert "already in use" in run.stderr


def test_workers_reach_the_parents_embedded_redis_with_its_password(tmp_path: Path) -> None:
    data = tmp_path / "var"
    http_port = two_free_ports()
    flags = ["--port", "0", "--http-port", str(http_port), "--jwt-secret", SECRET, "--data-dir", str(data)]
    with group_of_two(flags, clean_env()) as pids:
        for port in (http_port, http_port + 1):
            assert wait_for(lambda: ready(port))  # noqa: B023 (called at once)
        password = (data / "redis" / "password").read_text().strip()
        assert not any(password in command_line(pid) for pid in pids)


async def test_workers_hand_out_one_calendar_feed_url_whichever_worker_answers(
    workers: Workers,
) -> None:
    """docs/calendar.md:19-20: "The same URL comes back from every instance until
    meeting:resetCalendarFeed", and one `serve --workers 2` is one local server; without
    --public-base-url each worker builds the URL from its own --http-port + i - 1, so
    the user's URL depends on which worker the kernel picked for the connection."""
    for http_port in workers.http_ports:
        await wait_ready(http_port)
    url = f"ws://127.0.0.1:{workers.port}"
    urls: set[str] = set()
    async with AsyncExitStack() as stack:
        for _ in range(16):  # both workers get some (all on one: p = 2**-15)
            alice = await stack.enter_async_context(connect(url, token("alice")))
            urls.add((await alice.call("meeting:getCalendarFeed", {}))["url"])
    assert len(urls) == 1, urls


def _unit_setting(name: str, default: str) -> str:
    unit = (Path(__file__).parents[1] / "deploy" / "systemd" / "roomful-meetings@.service").read_text()
    values = [line.split("=", 1)[1].strip() for line in unit.splitlines() if line.startswith(f"{name}=")]
    return values[-1] if values else default


async def test_systemctl_stop_of_the_shipped_unit_drains_every_worker(
    workers: Workers,
) -> None:
    """deploy/systemd/roomful-meetings@.service suggests ROOMFUL_WORKERS=4 and promises
    "SIGTERM drains". It leaves KillMode at systemd's default, control-group: `systemctl
    stop` sends SIGTERM to every process of the unit, so each worker gets one from systemd
    and another forwarded by the parent, takes it as the "second signal while draining"
    and stops at once (README "Signals"). By hand (`kill -TERM parent w1 w2`, 4 clients),
    one worker drained and the other dropped its 3 clients with 1006 instead of 1001
    (trio merges the two SIGTERMs when both are pending, hence a race). Here peers that
    are slow to close keep each drain open, so the second signal lands during it for sure.
    (The embedded redis-server child is SIGTERMed meanwhile too.) KillMode=mixed fixes it."""
    for http_port in workers.http_ports:
        await wait_ready(http_port)
    url = f"ws://127.0.0.1:{workers.port}/?token={token('slow')}"
    slow = [(await open_raw(url))[0] for _ in range(12)]  # some on each worker
    await trio.sleep(0.3)
    # What `systemctl stop` does with the unit's KillMode (in cgroup order: parent first).
    if _unit_setting("KillMode", "control-group") == "control-group":
        targets = [workers.proc.pid, *workers.pids]
    else:
        targets = [workers.proc.pid]
    for pid in targets:
        os.kill(pid, signal.SIGTERM)
        await trio.sleep(0.1)
    for stream in slow:
        await stream.aclose()
    assert await trio.to_thread.run_sync(workers.proc.wait, EXIT_WAIT) == 0
    assert workers.proc.stderr is not None
    rest = workers.proc.stderr.read()
    assert "received SIGTERM again: stopping at once" not in rest
