"""Starting and stopping `roomful-meetings serve` as an operator does: real processes, real
signals, and everyday mistakes answered with one line and an exit code."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from roomful_meetings.storage.embedded import RedisProcess, free_port
from tests.processes import CLI, clean_env

SECRET = "a-secret-of-at-least-thirty-two-bytes-0123"
EXIT_WAIT = 30  # seconds: generous, the process exits well before on an idle machine


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=clean_env(), timeout=EXIT_WAIT, check=False
    )


def closed_port_url() -> str:
    """A Redis URL on a loopback port nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"


def serve(*flags: str, tmp_path: Path) -> subprocess.Popen[str]:
    command = [*CLI, "serve", "--port", "0", "--data-dir", str(tmp_path / "var"), *flags]
    return subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=clean_env())


def wait_for_line(proc: subprocess.Popen[str], words: str) -> list[str]:
    """Read stderr up to the first line containing `words` (the test's timeout bounds it)."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if words in line:
            return seen
    raise AssertionError(f"exited ({proc.wait()}) before logging {words!r}:\n{''.join(seen)}")


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes the test started, killed if the test left one running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_server_still_waiting_for_redis(
    tmp_path: Path, stopped: list[subprocess.Popen[str]], signum: signal.Signals
) -> None:
    proc = serve("--redis-url", closed_port_url(), "--jwt-secret", SECRET, tmp_path=tmp_path)
    stopped.append(proc)
    wait_for_line(proc, "redis connect to")  # it is in the waiting phase now
    proc.send_signal(signum)
    assert proc.wait(EXIT_WAIT) == 0
    assert proc.stderr is not None
    rest = proc.stderr.read()
    assert "while starting: stopping" in rest and "Traceback" not in rest


def test_redis_connect_timeout_ends_start_up_with_exit_1_and_one_line(tmp_path: Path) -> None:
    flags = ["--redis-url", closed_port_url(), "--redis-connect-timeout", "0.5", "--jwt-secret", SECRET]
    done = run_cli("serve", "--port", "0", *flags)
    assert done.returncode == 1, done.stderr
    last = done.stderr.splitlines()[-1]
    assert (
        last.startswith("roomful-meetings: Redis at redis://127.0.0.1:") and "--redis-connect-timeout" in last
    )
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "url", ["redis://:Hunter22/Xyzzy99@127.0.0.1:6390/0", "redis://admin:Hunter22?Xyzzy99@127.0.0.1:6390/0"]
)
def test_a_redis_url_refused_at_start_never_shows_its_password(url: str) -> None:
    """A generated password with `/` or `?` that was not percent-encoded makes the URL
    unreadable: the one line that says so shows no part of the password."""
    done = run_cli("serve", "--port", "0", "--redis-url", url, "--jwt-secret", SECRET)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("roomful-meetings: bad value for --redis-url: "), done.stderr
    assert "(not shown: it may hold the password; write / ? # @ in a password as %2F" in done.stderr
    assert "Hunter22" not in done.stderr and "Xyzzy99" not in done.stderr, done.stderr


def pem_of_a_private_key(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "private.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def pem_of_a_p384_public_key(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "p384.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


MISTAKES = {
    "bad-url-scheme": (["--redis-url", "http://127.0.0.1:6379"], "unsupported Redis URL scheme 'http'"),
    "sentinel-without-master": (
        ["--redis-url", "redis+sentinel://127.0.0.1:26379"],
        "redis+sentinel:// URL needs the master name as its path",
    ),
    "sentinel-bad-port": (["--redis-url", "redis+sentinel://h:1,h:x/m"], "bad port in 'h:x'"),
    "cluster-with-db": (
        ["--redis-url", "redis+cluster://127.0.0.1:7000/3"],
        "Redis Cluster has only database 0",
    ),
    "cluster-no-host": (["--redis-url", "redis+cluster://"], "needs host:port of at least one cluster node"),
    "missing-pem": (["--jwt-public-key", "{tmp}/nowhere.pem"], "cannot read --jwt-public-key"),
    "unparseable-pem": (["--jwt-public-key", "{tmp}/garbage.pem"], "is not a PEM public key"),
    "private-key-pem": (["--jwt-public-key", "{tmp}/private.pem"], "is not a PEM public key"),
    # PyJWT's ES256 takes P-256 only: every handshake was 401
    "p384-key-pem": (["--jwt-public-key", "{tmp}/p384.pem"], "an EC key on secp384r1; ES256 needs P-256"),
    "bad-log-level": (["--log-level", "loud"], "bad value for --log-level: 'loud'"),
    "bad-log-format": (["--log-format", "xml"], "bad value for --log-format: 'xml'"),
    "bad-number": (["--max-connections", "many"], "bad value for --max-connections"),
    # A port above 65535 was taken modulo 65536 (70000: 4464); the systemd unit's 808%i does
    # that from instance 10 on.
    "port-out-of-range": (["--port", "70000"], "bad value for --port: '70000' (0 to 65535)"),
    "http-port-out-of-range": (["--http-port", "-1"], "bad value for --http-port: '-1' (0 to 65535)"),
    "no-pool": (["--redis-pool-size", "0"], "bad value for --redis-pool-size: '0' (1 or more)"),
    "negative-frame": (["--max-frame-bytes", "-5"], "(1 or more)"),
    "zero-timeout": (["--redis-timeout", "0"], "bad value for --redis-timeout: '0' (a number above 0)"),
    "nan-rate": (["--rate-per-second", "nan"], "(a number above 0)"),
    # feed URLs would be cal.example.com/calendar/<token>.ics, which no calendar app takes
    "base-url-without-scheme": (
        ["--public-base-url", "cal.example.com"],
        "bad value for --public-base-url: 'cal.example.com' (an http:// or https:// URL",
    ),
    "base-url-with-query": (
        ["--public-base-url", "https://cal.example?x=1"],
        "bad value for --public-base-url",
    ),
    # a bracket not closed: urlsplit's ValueError ended in a traceback and exit status 1
    "base-url-broken-ipv6-host": (["--public-base-url", "http://[::1"], "bad value for --public-base-url"),
    "short-secret": (["--jwt-secret", "too-short"], "the HS256 secret has 9 bytes; it needs at least 32"),
    "data-dir-is-a-file": (
        ["--data-dir", "{tmp}/garbage.pem", "--jwt-secret", ""],
        "cannot read or create the JWT secret",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_an_everyday_mistake_is_one_line_and_exit_2(tmp_path: Path, mistake: str) -> None:
    flags, expected = MISTAKES[mistake]
    (tmp_path / "garbage.pem").write_text("-----BEGIN PUBLIC KEY-----\nnot base64 at all\n")
    pem_of_a_private_key(tmp_path)
    pem_of_a_p384_public_key(tmp_path)
    flags = [flag.replace("{tmp}", str(tmp_path)) for flag in flags]
    if "--jwt-secret" not in flags:
        flags += ["--jwt-secret", SECRET]
    if "--redis-url" not in flags:
        flags += ["--redis-url", closed_port_url()]  # never reached: the mistake comes first
    done = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path), *flags)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], "more than one line"
    assert done.stderr.startswith("roomful-meetings: ") and expected in done.stderr, done.stderr


def test_a_log_format_in_capitals_is_taken(tmp_path: Path) -> None:
    """`--log-level INFO` was taken, `--log-format JSON` passed the same check and then
    stopped the server with a KeyError traceback and exit status 1."""
    flags = ["--redis-url", closed_port_url(), "--redis-connect-timeout", "0.3", "--jwt-secret", SECRET]
    done = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path), "--log-format", "JSON", *flags)
    assert done.returncode == 1, done.stderr[-800:]  # JSON lines up to the failure to reach Redis
    *records, last = done.stderr.strip().splitlines()
    assert records and all(line.startswith("{") for line in records), done.stderr[:800]
    assert last.startswith("roomful-meetings: Redis at "), last


def test_an_upgrade_refused_by_redis_exits_1_saying_so(own_redis: RedisProcess) -> None:
    """docs/operations.md: when Redis refuses a write of the format 3 to 4 upgrade it "exits
    saying so"; it logged "Redis not ready (NOREPLICAS ...); retrying" every second for ever."""
    port = str(own_redis.port)
    subprocess.run(
        ["redis-cli", "-p", port, "HSET", "up:u:ann", "id", "ann"], check=True, capture_output=True
    )
    subprocess.run(["redis-cli", "-p", port, "SET", "up:schema", "3"], check=True, capture_output=True)
    command = ["redis-cli", "-p", port, "CONFIG", "SET", "min-replicas-to-write", "1"]  # writes refused
    subprocess.run(command, check=True, capture_output=True)
    done = run_cli(
        "serve", "--port", "0", "--redis-url", own_redis.url, "--key-prefix", "up:", "--jwt-secret", SECRET
    )
    assert done.returncode == 1, done.stderr[-800:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("roomful-meetings: Redis refused a write of the data upgrade from format 3"), last
    assert "NOREPLICAS" in last and "Traceback" not in done.stderr


def test_damaged_embedded_redis_files_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """A data folder whose Redis files are damaged stops `serve` with one line saying what
    redis-server found and where its log is, not a traceback."""
    manifest = tmp_path / "var" / "redis" / "appendonlydir" / "appendonly.aof.manifest"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("not a manifest\n")
    done = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path / "var"), "--jwt-secret", SECRET)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("roomful-meetings: the embedded Redis does not start in "), last
    assert "(--data-dir): FATAL AOF MANIFEST FILE ERROR: Invalid AOF manifest file format" in last, last
    assert "redis.log" in last, last


def test_a_read_only_data_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """An installation whose data folder has become read-only (its secret is there, so
    only the embedded Redis cannot be kept): one line naming --data-dir, exit status 2."""
    data = tmp_path / "var"
    (data / "redis").mkdir(parents=True)
    (data / "jwt-secret").write_text(SECRET + "\n")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot make a read-only bind mount here (needs unshare -m)")
    command = " ".join([*CLI, "serve", "--port", "0", "--data-dir", str(data)])
    script = f"mount --bind {data} {data} && mount -o remount,bind,ro {data} && exec {command}"
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=EXIT_WAIT,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("roomful-meetings: cannot run the embedded Redis (--data-dir"), last
    assert "Read-only file system" in last, last


@pytest.mark.parametrize("flag", ["--port", "--http-port"])
def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path, redis_server: RedisProcess, flag: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--http-port": "0", flag: str(port)}
        flags = [item for pair in ports.items() for item in pair]
        flags += ["--redis-url", redis_server.url, "--jwt-secret", SECRET, "--key-prefix", f"p{port}:"]
        done = run_cli("serve", *flags)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"roomful-meetings: cannot listen on 127.0.0.1:{port} ({flag}): "), last


def client_text_frame(payload: bytes) -> bytes:
    """A client's text frame, masked with the all-zero key (so the payload reads as is)."""
    size = len(payload)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def test_a_second_signal_while_draining_stops_at_once(
    tmp_path: Path, redis_server: RedisProcess, stopped: list[subprocess.Popen[str]]
) -> None:
    """A client that never reads holds the drain (its answers cannot leave) until the
    shutdown deadline; the second SIGTERM does not wait for it."""
    from roomful_meetings.auth import mint_token

    port = free_port()
    proc = serve(
        *("--port", str(port), "--redis-url", redis_server.url, "--key-prefix", f"drain{port}:"),
        *("--jwt-secret", SECRET, "--shutdown-deadline", "600"),
        tmp_path=tmp_path,
    )
    stopped.append(proc)
    wait_for_line(proc, "listening on")
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(
            f"GET /?token={mint_token(SECRET, 'ann')} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        assert client.recv(12) == b"HTTP/1.1 101"
        # Each answer echoes its event: 20 answers of 900 kB, more than loopback buffers hold
        # (and less than --send-queue-bytes, past which the server would stop reading them).
        echoed = b'{"endpoint": "meeting:getMeeting", "data": {}, "event": {"id": "%s"}}' % (b"x" * 900_000)
        for _ in range(20):
            client.sendall(client_text_frame(echoed))
        proc.send_signal(signal.SIGTERM)
        wait_for_line(proc, "draining 1 connections")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EXIT_WAIT) == 0
    assert proc.stderr is not None
    assert "again: stopping at once" in proc.stderr.read()
