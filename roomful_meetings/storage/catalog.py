"""The catalog and directory: users, rooms, props, groups, social sessions (admin writes)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from roomful_meetings.domain.time import to_minute
from roomful_meetings.protocol.payloads import GroupIn, PropIn, RoomIn, SessionIn, UserIn
from roomful_meetings.storage.base import ScriptArg, Store, decode_hash

USER_TEXT_FIELDS = ("firstName", "lastName", "avatar", "companyName", "companyTitle", "timeZone")


def _given(struct: msgspec.Struct, names: tuple[str, ...]) -> list[ScriptArg]:
    """field/value pairs for the fields a caller gave (None clears to empty)."""
    pairs: list[ScriptArg] = []
    for name in names:
        value = getattr(struct, name)
        if value is UNSET:
            continue
        if isinstance(value, msgspec.Struct):
            value = msgspec.json.encode(value)
        pairs += [name, "" if value is None else value]
    return pairs


def email_key(email: str) -> str:
    return email.strip().casefold()


class CatalogStore(Store):
    async def upsert_users(self, users: list[UserIn]) -> None:
        args: list[ScriptArg] = []
        for user in users:
            pairs = _given(user, ("email", *USER_TEXT_FIELDS, "privacyMode", "avatar3D"))
            email = "-" if user.email is UNSET else email_key(user.email or "")
            args += [user.id, email, len(pairs) // 2, *pairs]
        if args:
            await self.run("upsert_users", [], args)

    async def upsert_rooms(self, rooms: list[RoomIn]) -> None:
        args: list[ScriptArg] = []
        for room in rooms:
            pairs = _given(room, ("networkId", "title", "thumbnail"))
            args += [room.id, len(pairs) // 2, *pairs]
        if args:
            await self.run("upsert_rooms", [], args)

    async def upsert_props(self, props: list[PropIn]) -> None:
        args: list[ScriptArg] = []
        for prop in props:
            pairs = _given(prop, ("title",))
            args += [prop.roomId, prop.id, len(pairs) // 2, *pairs]
        if args:
            await self.run("upsert_props", [], args)

    async def upsert_groups(self, groups: list[GroupIn]) -> None:
        args: list[ScriptArg] = []
        for group in groups:
            pairs = _given(group, ("networkId", "title"))
            args += [group.id, len(pairs) // 2, *pairs]
            if group.memberIds is UNSET:
                args.append(-1)
            else:
                members = list(dict.fromkeys(group.memberIds or []))
                args += [len(members), *members]
        if args:
            await self.run("upsert_groups", [], args)

    async def upsert_sessions(self, sessions: list[SessionIn]) -> None:
        args: list[ScriptArg] = []
        for session in sessions:
            start = "" if session.startDate is None else to_minute(session.startDate, "startDate")
            end = "" if session.endDate is None else to_minute(session.endDate, "endDate")
            args += [session.id, session.roomId, session.propId, start, end]
        if args:
            await self.run("upsert_social_sessions", [], args)

    async def delete_room(self, room_id: str) -> None:
        await self.run("delete_room", [self.keys.room(room_id)], [room_id])

    async def delete_prop(self, room_id: str, prop_id: str) -> None:
        await self.run("delete_prop", [self.keys.prop(room_id, prop_id)], [room_id, prop_id])

    async def delete_group(self, group_id: str) -> None:
        keys = [self.keys.group(group_id), self.keys.group_members(group_id)]
        await self.run("delete_group", keys, [group_id])

    async def delete_session(self, session_id: str) -> None:
        await self.run("delete_social_session", [self.keys.session(session_id)], [session_id])

    async def delete_user(self, user_id: str) -> None:
        await self.run("delete_user", [self.keys.user(user_id)], [user_id])

    async def get_user(self, user_id: str) -> dict[str, str] | None:
        return await self._hash(self.keys.user(user_id))

    async def user_ids_by_email(self, emails: list[str]) -> list[str | None]:
        replies = await self.pipeline([("GET", self.keys.email(email_key(e))) for e in emails])
        return [reply.decode() if reply else None for reply in replies]

    async def _hash(self, key: str) -> dict[str, str] | None:
        return decode_hash(await self.redis.execute("HGETALL", key)) or None
