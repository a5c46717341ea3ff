"""Fixtures of the topology tests: a Redis Cluster and a Sentinel group of real processes.

The `cluster` and `sentinel_group` fixtures are shared by the tests that leave them healthy
(routing, redirections, serve); `own_cluster` and `own_sentinel_group` are a test's own, for
tests that kill a primary. Every test here is marked `topology` and left out of the default
run (they take a minute or two, most of it booting topologies and waiting for failovers):
`pytest -m topology` runs them. One, marked `default_run` as well, stays in the default run
(and so in CI): the Sentinel failover under load, about 11 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.topologies import RedisCluster, SentinelGroup


def _cluster(folder: Path) -> Iterator[RedisCluster]:
    cluster = RedisCluster(folder)
    cluster.start()
    yield cluster
    cluster.stop()


def _group(folder: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(folder)
    group.start()
    yield group
    group.stop()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    yield from _cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    yield from _cluster(tmp_path / "cluster")


@pytest.fixture(scope="session")
def sentinel_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    yield from _group(tmp_path_factory.mktemp("sentinel"))


@pytest.fixture
def own_sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    yield from _group(tmp_path / "sentinel")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/topology/" in str(item.path):
            item.add_marker(pytest.mark.topology)
