"""Batched directory reads for building the deprecated meeting shape."""

from __future__ import annotations

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

    async def prop_is_busy(self, room_id: str, prop_id: str, now_minute: int) -> bool | None:
        """Whether a prop has a meeting or social session ending after now (None: no prop)."""
        exists, meetings, sessions = await self.pipeline(
            [
                ("EXISTS", self.keys.prop(room_id, prop_id)),
                ("ZCOUNT", self.keys.source(f"prop:{room_id}:{prop_id}"), f"({now_minute}", "+inf"),
                ("ZCOUNT", self.keys.prop_sessions(room_id, prop_id), f"({now_minute}", "+inf"),
            ]
        )
        if not exists:
            return None
        return bool(meetings or sessions)
