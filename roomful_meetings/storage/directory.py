"""Batched directory reads for building the deprecated meeting shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from roomful_meetings.storage.base import Store, decode_hash
from roomful_meetings.storage.redis import Command

Hash = dict[str, str]


@dataclass(frozen=True, slots=True)
class DirectorySnapshot:
    users: dict[str, Hash]
    rooms: dict[str, Hash]
    props: dict[tuple[str, str], Hash]


class DirectoryStore(Store):
    async def snapshot(
        self, user_ids: set[str], room_ids: set[str], props: set[tuple[str, str]]
    ) -> DirectorySnapshot:
        """Users, rooms and props in one round trip (missing ones are left out)."""
        users, rooms, prop_list = sorted(user_ids), sorted(room_ids), sorted(props)
        commands: list[Command] = [("HGETALL", self.keys.user(u)) for u in users]
        commands += [("HGETALL", self.keys.room(r)) for r in rooms]
        commands += [("HGETALL", self.keys.prop(r, p)) for r, p in prop_list]
        replies = iter(await self.pipeline(commands))

        def take(count: int) -> list[Hash]:
            return [decode_hash(next(replies)) for _ in range(count)]

        return DirectorySnapshot(
            users={u: h for u, h in zip(users, take(len(users)), strict=True) if h},
            rooms={r: h for r, h in zip(rooms, take(len(rooms)), strict=True) if h},
            props={p: h for p, h in zip(prop_list, take(len(prop_list)), strict=True) if h},
        )

    async def prop_is_busy(
        self,
        room_id: str,
        prop_id: str,
        now_minute: int,
        series_busy: Callable[[list[str]], Awaitable[bool]],
    ) -> bool | None:
        """Whether a prop has a meeting or social session ending after now (None: no prop).
        A single meeting's score in the prop's index is its end, a series' a bound on its
        last instance's end (cancellations do not lower it): `series_busy` is asked of the
        series, a page at a time, until one has an instance ahead."""
        source = self.keys.source(f"prop:{room_id}:{prop_id}")
        exists, sessions = await self.pipeline(
            [
                ("EXISTS", self.keys.prop(room_id, prop_id)),
                ("ZCOUNT", self.keys.prop_sessions(room_id, prop_id), f"({now_minute}", "+inf"),
            ]
        )
        if not exists:
            return None
        if sessions:
            return True
        offset = 0
        while True:  # most often the first id settles it
            (page,) = await self.pipeline(
                [("ZRANGEBYSCORE", source, f"({now_minute}", "+inf", "LIMIT", offset, PROP_PAGE)]
            )
            if not page:
                return False
            ids = [mid.decode() for mid in page]
            rules = await self.pipeline([("HEXISTS", self.keys.meeting(mid), "rule") for mid in ids])
            if not all(rules) or await series_busy(ids):
                return True
            offset += len(ids)


PROP_PAGE = 100
