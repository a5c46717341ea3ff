"""Each user's retained events (a Redis stream per user, written by the change scripts)."""

from __future__ import annotations

from typing import Any, Final

from roomful_meetings.protocol.event_ids import may_be_of, parse_event_id
from roomful_meetings.storage.base import Store
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis

# What the contract retains per user; lua/includes/events.lua trims streams approximately ("MAXLEN ~",
# much cheaper than exact trimming), so a stream may hold a few more, which are not shown.
EVENTS_KEPT: Final = 1000


class EventStore(Store):
    """Each user's retained events. When events are held until replicas have their change
    (--redis-min-replicas, lua/includes/events.lua), a stream may already hold an event that
    is not published yet: reads then stop at the tenant's released mark, so that nobody
    is shown an event a failover could still lose, and the event arrives live once
    released (a connection joins its tenant's channel before it reads)."""

    async def last_event_id(self, user_id: str) -> str:
        """The user's newest retained (and released) event id, "" when there is none."""
        newest = await self._newest_first(user_id, "-", 1)
        return newest[0][0].decode() if newest else ""

    async def _newest_first(self, user_id: str, oldest: str, count: int) -> list[Any]:
        """Up to `count` of the user's events that may be shown, newest first, down to
        `oldest` ("-": any): lua/read_events.lua, which reads the released mark in the same
        step as the stream."""
        keys = [self.keys.user_events(user_id), self.keys.released()]
        entries: list[Any]
        (entries,) = await self.run("read_events", keys, ["1" if self.holds_events else "", oldest, count])
        return entries

    async def release_held(self) -> None:
        """Release what the tenant's outbox holds, once the replicas have it (a WAIT
        behind lua/mark_outbox.lua; ReplicasBehind when they do not yet)."""
        (newest,) = await self.run("mark_outbox", [self.keys.outbox(), self.keys.released()], [])
        if newest:
            await self.release(newest.decode())

    async def since(
        self, user_id: str, since: str, *, max_age_ms: int, now_ms: int, from_nothing: bool = False
    ) -> tuple[bool, list[tuple[str, bytes]]]:
        """The user's retained events after `since` ("" = from the oldest), oldest first, and
        whether that is complete: False when `since` is unknown or older than what is kept.
        `from_nothing`: "" stands for every event the user ever had (a connection that
        started before the first), complete only while none can have been dropped: fewer
        than EVENTS_KEPT kept (trimming leaves at least that many; at exactly that many it
        may have, and it is said), and none too old."""
        oldest_kept = now_ms - max_age_ms
        # Anything Redis would refuse as a stream id is unknown: replay all, say incomplete;
        # so is an id that only another tenant can have handed out.
        parsed = parse_event_id(since)
        if parsed is not None and not may_be_of(parsed, self.keys.event_code):
            parsed = None
        # Newest first, down to `since` itself when it is among the newest EVENTS_KEPT + 1.
        entries = await self._newest_first(user_id, "-" if parsed is None else since, EVENTS_KEPT + 1)
        events = await self._frames([(raw_id.decode(), fields) for raw_id, fields in reversed(entries)])
        complete = since == ""
        if parsed is not None and events and events[0][0] == since:
            events = events[1:]
            complete = parsed[0] >= oldest_kept
        kept = [(eid, frame) for eid, frame in events[-EVENTS_KEPT:] if event_ms(eid) >= oldest_kept]
        if from_nothing and since == "":
            complete = len(entries) < EVENTS_KEPT and len(kept) == len(events)
        return complete, kept

    async def _frames(self, entries: list[tuple[str, list[bytes]]]) -> list[tuple[str, bytes]]:
        """Each entry's frame: in the entry ("f") or stored once for all its recipients
        ("r": the variant of ev:<id>:<variant>; gone once older than the replay window)."""
        shared = [
            self.keys.event_frame(eid, fields[1].decode()) for eid, fields in entries if fields[0] == b"r"
        ]
        found = iter(await self.redis.execute("MGET", *shared) if shared else [])
        events = []
        for event_id, (field, value) in entries:
            frame = value if field == b"f" else next(found)
            if frame is not None:
                events.append((event_id, frame))
        return events


async def holding(redis: Redis, keys: list[Keys]) -> list[bool]:
    """Whether each tenant's outbox holds events (one pipelined read for all)."""
    lengths = await redis.pipeline([("LLEN", k.outbox()) for k in keys]) if keys else []
    return [isinstance(n, int) and n > 0 for n in lengths]


def event_ms(event_id: str) -> int:
    return int(event_id.partition("-")[0])
