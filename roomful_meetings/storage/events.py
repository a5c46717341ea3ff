"""Each user's retained events (a Redis stream per user, written by the change scripts)."""

from __future__ import annotations

from roomful_meetings.storage.base import Store


class EventStore(Store):
    async def last_event_id(self, user_id: str) -> str:
        """The user's newest retained event id, "" when there is none."""
        newest = await self.redis.execute("XREVRANGE", self.keys.user_events(user_id), "+", "-", "COUNT", 1)
        return newest[0][0].decode() if newest else ""

    async def since(
        self, user_id: str, since: str, *, max_age_ms: int, now_ms: int
    ) -> tuple[bool, list[tuple[str, str]]]:
        """The user's retained events after `since` ("" = from the oldest), oldest first, and
        whether that is complete: False when `since` is unknown or older than what is kept."""
        key = self.keys.user_events(user_id)
        oldest_kept = now_ms - max_age_ms
        complete = True
        if since:
            if not is_event_id(since):
                return False, await self._after(key, "-", oldest_kept)
            found = await self.redis.execute("XRANGE", key, since, since)
            complete = bool(found) and event_ms(since) >= oldest_kept
            return complete, await self._after(key, f"({since}", oldest_kept)
        return complete, await self._after(key, "-", oldest_kept)

    async def _after(self, key: str, start: str, oldest_kept: int) -> list[tuple[str, str]]:
        entries = await self.redis.execute("XRANGE", key, start, "+")
        out = []
        for raw_id, fields in entries:
            event_id = raw_id.decode()
            if event_ms(event_id) >= oldest_kept:
                out.append((event_id, fields[1].decode()))
        return out


def is_event_id(text: str) -> bool:
    ms, _, seq = text.partition("-")
    return ms.isdigit() and seq.isdigit()


def event_ms(event_id: str) -> int:
    return int(event_id.partition("-")[0])


def event_order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)
