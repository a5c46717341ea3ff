from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.wsraw import collect_dropped_client_sockets


@pytest.fixture(autouse=True)
def collect_client_sockets() -> Iterator[None]:
    """trio-websocket 0.12's *client* leaves its socket to the garbage collector when the
    server closes the connection (4001, 1003, 1009, ...). Collect those here so their
    ResourceWarning does not land in whichever test runs next. Server-side closing is
    checked by the close codes and by the hub's connection count."""
    yield
    collect_dropped_client_sockets()
