from __future__ import annotations

from roomful_meetings.client import connect
from tests.conftest import ServerHandle, token


async def test_connection_starts_with_ready_push(server: ServerHandle) -> None:
    async with connect(server.url, token("alice")) as client:
        ready = await client.next_push()
        assert ready.endpoint == "connection:ready"
        assert ready.data == {"lastEventId": ""}
