"""Each user's retained events (a Redis stream per user, written by the change scripts)."""

from __future__ import annotations

from roomful_meetings.storage.base import Store


class EventStore(Store):
    async def last_event_id(self, user_id: str) -> str:
        """The user's newest retained event id, "" when there is none."""
        newest = await self.redis.execute("XREVRANGE", self.keys.user_events(user_id), "+", "-", "COUNT", 1)
        return newest[0][0].decode() if newest else ""
