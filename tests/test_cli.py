"""The command line as a newcomer uses it: serve with an embedded Redis, token, import."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from roomful_meetings.client import connect
from roomful_meetings.storage.embedded import RedisProcess, free_port
from roomful_meetings.storage.redis import open_redis
from tests.conftest import SECRET
from tests.logfmt import parse_logfmt
from tests.processes import CLI, clean_env, serving, wait_listening


def cli(*args: str, data_dir: Path) -> str:
    env = clean_env()
    done = subprocess.run(
        [*CLI, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# The port, the data folder and the process of a running `serve`.
Served = tuple[int, Path, subprocess.Popen[str]]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`roomful-meetings serve` with no Redis URL: starts its own Redis in the data folder."""
    with serving("--data-dir", str(tmp_path / "var")) as (port, proc):
        yield port, tmp_path / "var", proc


async def test_serve_with_embedded_redis_accepts_a_minted_token_and_stops_on_sigterm(served: Served) -> None:
    port, data_dir, proc = served
    redis_port = int((data_dir / "redis" / "port").read_text())
    token = cli("token", "--user", "alice", data_dir=data_dir)
    async with connect(f"ws://127.0.0.1:{port}", token) as client:
        ready = await client.next_push()
        assert ready.endpoint == "connection:ready"
        reply = await client.request("meeting:nothing")
        assert reply.error.code == 404
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert "settings" in (proc.stderr.read() if proc.stderr else "")
    assert (data_dir / "redis" / "appendonlydir").exists() or (data_dir / "redis" / "appendonly.aof").exists()
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", redis_port), timeout=0.5).close()


def test_printed_settings_mask_the_secret(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--jwt-secret",
            "hunter2-very-secret-value-123456",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(port, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    messages = [parse_logfmt(line)["msg"] for line in err.splitlines()]
    (settings,) = [message for message in messages if message.startswith("settings ")]
    assert "hunter2" not in err and json.loads(settings.removeprefix("settings "))["jwt_secret"] == "***"


async def test_catalog_import_loads_what_admin_endpoints_load(served: Served, tmp_path: Path) -> None:
    port, data_dir, _proc = served
    catalog = {
        "users": [{"id": "ann", "email": "ann@example.com"}, {"id": "ben"}],
        "rooms": [{"id": "lobby", "networkId": "net1", "title": "Lobby"}],
        "props": [{"roomId": "lobby", "id": "table", "title": "Table"}],
        "groups": [{"id": "team", "networkId": "net1", "memberIds": ["ann"]}],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    assert (
        cli("catalog", "import", str(path), data_dir=data_dir)
        == "users=2 rooms=1 props=1 groups=1 sessions=0"
    )
    async with connect(f"ws://127.0.0.1:{port}", cli("token", "--user", "ann", data_dir=data_dir)) as ann:
        await ann.next_push()
        created = await ann.call(
            "meeting:createMeeting",
            {
                "sourceType": "prop",
                "sourceIds": ["lobby", "table"],
                "subject": "Standup",
                "startDate": "2030-01-01T10:00:00Z",
                "endDate": "2030-01-01T10:30:00Z",
                "invitedUserIds": ["ben"],
            },
        )
        assert created["meeting"]["networkId"] == "net1"
        assert created["meeting"]["participantIds"] == ["ann", "ben"]


def test_catalog_import_rejects_a_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"rooms": [{"title": "no id"}]}))
    done = subprocess.run(
        [*CLI, "catalog", "import", str(path), "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "id" in done.stderr


async def test_a_server_refuses_data_in_a_format_it_does_not_understand(
    redis_server: RedisProcess, prefix: str
) -> None:
    from roomful_meetings.storage.keys import Keys
    from roomful_meetings.storage.redis import open_redis
    from roomful_meetings.storage.schema import DATA_FORMAT_VERSION, check_data_format

    keys = Keys(prefix)
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        await check_data_format(redis, keys)  # a new database gets this version
        assert await redis.execute("GET", keys.schema_version()) == DATA_FORMAT_VERSION.encode()
        await redis.execute("SET", keys.schema_version(), "1")  # the earlier release's format
        await check_data_format(redis, keys)  # read as it is, and marked as this release's
        assert await redis.execute("GET", keys.schema_version()) == DATA_FORMAT_VERSION.encode()
        await redis.execute("SET", keys.schema_version(), "9")
    port = free_port()
    command = [*CLI, "serve", "--port", str(port), "--redis-url", redis_server.url, "--key-prefix", prefix]
    done = await trio.run_process([*command, "--jwt-secret", "x" * 40], capture_stderr=True, check=False)
    stderr = done.stderr.decode()
    assert done.returncode != 0
    assert "format '9'" in stderr and "docs/operations.md" in stderr


def run_plain(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, check=False, env=clean_env()
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--user", "a:b"), "bad value for --user"),
        (("--user", "x" * 129), "bad value for --user"),
        (("--user", "bob", "--ttl", "-100"), "bad value for --ttl"),
        # an `exp` past year 9999, which every server refuses
        (
            ("--user", "bob", "--ttl", "300000000000"),
            "bad value for --ttl: 300000000000 (it would expire after",
        ),
        # claims the server would ignore (no profile email or zone would come of them)
        (("--user", "bob", "--email", "bob@x.test\r\nX: y"), "bad value for --email"),
        (("--user", "bob", "--zone", "Mars/Olympus"), "bad value for --zone"),
        (("--user", "bob", "--tenant", "a.b"), "bad value for --tenant"),
    ],
)
def test_token_refuses_what_the_server_would_refuse(tmp_path: Path, args: tuple[str, ...], said: str) -> None:
    done = run_plain("token", *args, "--data-dir", str(tmp_path))
    assert (done.returncode, done.stdout) == (2, "") and said in done.stderr
    assert "signed with" not in done.stderr and not (tmp_path / "jwt-secret").exists()  # refused first


def test_token_carries_the_issuer_and_audience_the_server_requires(tmp_path: Path) -> None:
    """With ROOMFUL_JWT_ISSUER / ROOMFUL_JWT_AUDIENCE in the shared environment (the systemd
    unit's /etc/roomful-meetings/env), the server requires `iss` / `aud`: the token that
    `token` prints from the same environment is accepted."""
    from roomful_meetings.auth import TokenVerifier
    from roomful_meetings.config import settings_from

    env = {
        **clean_env(),
        "ROOMFUL_JWT_SECRET": SECRET,
        "ROOMFUL_JWT_ISSUER": "https://idp.example",
        "ROOMFUL_JWT_AUDIENCE": "roomful",
    }
    done = subprocess.run(
        [*CLI, "token", "--user", "bob", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    identity = TokenVerifier(settings_from(None, env)).verify(done.stdout.strip())
    assert identity.user_id == "bob"


def test_schema_to_a_path_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    done = run_plain("schema", "--output", str(tmp_path / "no" / "such" / "asyncapi.json"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize(
    ("catalog", "said"),
    [
        ({"users": [{"id": "u1", "timeZone": "Mars/Olympus"}]}, "unknown time zone"),
        ({"users": [{"id": "u1"}, {"id": "u2", "email": "u2@x.test\nEND:VEVENT"}]}, "users[1].email"),
        ({"users": [{"id": "early"}], "props": [{"roomId": "nowhere", "id": "p1"}]}, "room nowhere not found"),
        (
            {"sessions": [{"id": "s1", "roomId": "r", "startDate": "2030-01-01T10:00:00Z",
                           "endDate": "2030-01-01T09:00:00Z"}]},
            "endDate",
        ),
        # one session twice: the second entry's end before the first entry's start
        (
            {"users": [{"id": "u1"}], "rooms": [{"id": "r1"}],
             "sessions": [{"id": "s1", "roomId": "r1", "startDate": "2030-01-01T10:00:00Z",
                           "endDate": "2030-01-01T11:00:00Z"},
                          {"id": "s1", "roomId": "r1", "endDate": "2030-01-01T09:00:00Z"}]},
            "sessions[1]",
        ),
    ],
)  # fmt: skip
def test_catalog_import_of_what_the_admin_endpoints_refuse_is_one_line(
    tmp_path: Path, redis_server: RedisProcess, prefix: str, catalog: dict[str, object], said: str
) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    done = run_plain("catalog", "import", str(path), "--redis-url", redis_server.url, "--key-prefix", prefix)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert said in done.stderr
    assert trio.run(stored_keys, redis_server, prefix) == [f"{prefix}schema".encode()]  # nothing else


async def stored_keys(redis_server: RedisProcess, prefix: str) -> list[bytes]:
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        return await redis.scan(f"{prefix}*")
