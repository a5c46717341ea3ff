"""The catalog and directory: users, rooms, props, groups, social sessions (admin writes)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from roomful_meetings.domain.time import format_instant, to_minute, to_ms
from roomful_meetings.protocol.models import Resource
from roomful_meetings.protocol.payloads import GroupIn, PropIn, RoomIn, SessionIn, UserIn
from roomful_meetings.storage.base import NO_WRITE, ScriptArg, Store, Write, decode_hash

USER_TEXT_FIELDS = ("firstName", "lastName", "avatar", "companyName", "companyTitle", "timeZone")


def _given(struct: msgspec.Struct, names: tuple[str, ...]) -> list[ScriptArg]:
    """field/value pairs for the fields a caller gave (None clears to empty)."""
    pairs: list[ScriptArg] = []
    for name in names:
        value = getattr(struct, name)
        if value is UNSET:
            continue
        if isinstance(value, Resource):
            value = stored_resource(value)
        elif isinstance(value, msgspec.Struct):
            value = msgspec.json.encode(value)
        pairs += [name, "" if value is None else value]
    return pairs


def stored_resource(resource: Resource) -> bytes:
    """A Resource as it is stored and shown again: as given, but its timestamps as RFC 3339
    in UTC (contract 4), text or epoch milliseconds alike (their range is checked before:
    service/admin.py check_rooms)."""
    stored = msgspec.to_builtins(resource)
    for path, value in resource.timestamps():
        *parents, name = path
        place = stored
        for parent in parents:
            place = place[parent]
        place[name] = format_instant(to_ms(value, ".".join(path)))
    return msgspec.json.encode(stored)


def email_key(email: str) -> str:
    return email.strip().casefold()


class CatalogStore(Store):
    async def upsert_users(self, users: list[UserIn], *, write: Write = NO_WRITE) -> None:
        args: list[ScriptArg] = []
        for user in users:
            pairs = _given(user, ("email", *USER_TEXT_FIELDS, "privacyMode", "avatar3D"))
            email = "-" if user.email is UNSET else email_key(user.email or "")
            args += [user.id, email, len(pairs) // 2, *pairs]
        if users:
            await self.run("upsert_users", [self.keys.user(u.id) for u in users], args, write=write)

    async def upsert_rooms(self, rooms: list[RoomIn], *, write: Write = NO_WRITE) -> None:
        args: list[ScriptArg] = []
        for room in rooms:
            pairs = _given(room, ("networkId", "title", "thumbnail"))
            args += [room.id, len(pairs) // 2, *pairs]
        if rooms:
            await self.run("upsert_rooms", [self.keys.room(r.id) for r in rooms], args, write=write)

    async def upsert_props(self, props: list[PropIn], *, write: Write = NO_WRITE) -> None:
        args: list[ScriptArg] = []
        keys: list[str] = []
        for prop in props:
            pairs = _given(prop, ("title",))
            args += [prop.roomId, prop.id, len(pairs) // 2, *pairs]
            keys += [self.keys.prop(prop.roomId, prop.id), self.keys.room(prop.roomId)]
        if props:
            await self.run("upsert_props", keys, args, write=write)

    async def upsert_groups(self, groups: list[GroupIn], *, write: Write = NO_WRITE) -> None:
        args: list[ScriptArg] = []
        for group in groups:
            pairs = _given(group, ("networkId", "title"))
            args += [group.id, len(pairs) // 2, *pairs]
            if group.memberIds is UNSET:
                args.append(-1)
            else:
                members = list(dict.fromkeys(group.memberIds or []))
                args += [len(members), *members]
        if groups:
            await self.run("upsert_groups", [self.keys.group(g.id) for g in groups], args, write=write)

    async def upsert_sessions(self, sessions: list[SessionIn], *, write: Write = NO_WRITE) -> None:
        args: list[ScriptArg] = []
        for session in sessions:
            start = "" if session.startDate is None else to_minute(session.startDate, "startDate")
            end = "" if session.endDate is None else to_minute(session.endDate, "endDate")
            prop = ":" if session.propId is UNSET else session.propId  # ":": keep the stored one
            args += [session.id, session.roomId, prop, start, end]
        if sessions:
            keys = [self.keys.session(s.id) for s in sessions]
            await self.run("upsert_social_sessions", keys, args, write=write)

    async def delete_room(self, room_id: str, *, write: Write = NO_WRITE) -> None:
        k = self.keys
        keys = [
            k.room(room_id),
            k.room_props(room_id),
            k.room_sessions(room_id),
            k.prop_sessions(room_id, ""),
            k.source(f"room:{room_id}"),
        ]
        await self.run("delete_room", keys, [room_id], write=write)

    async def delete_prop(self, room_id: str, prop_id: str, *, write: Write = NO_WRITE) -> None:
        k = self.keys
        keys = [
            k.prop(room_id, prop_id),
            k.prop_sessions(room_id, prop_id),
            k.room_sessions(room_id),
            k.room_props(room_id),
            k.source(f"prop:{room_id}:{prop_id}"),
        ]
        await self.run("delete_prop", keys, [prop_id], write=write)

    async def delete_group(self, group_id: str, *, write: Write = NO_WRITE) -> None:
        keys = [
            self.keys.group(group_id),
            self.keys.group_members(group_id),
            self.keys.source(f"group:{group_id}"),
        ]
        await self.run("delete_group", keys, [group_id], write=write)

    async def delete_session(self, session_id: str, *, write: Write = NO_WRITE) -> None:
        await self.run("delete_social_session", [self.keys.session(session_id)], [session_id], write=write)

    async def delete_user(self, user_id: str, *, write: Write = NO_WRITE) -> None:
        k = self.keys
        keys = [
            k.user(user_id),
            k.user_groups(user_id),
            k.user_meetings(user_id),
            k.user_series(user_id),
            k.user_events(user_id),
            k.user_busy(user_id),
            k.user_pattern(user_id),
            k.user_days(user_id),
            k.user_feed(user_id),
            k.source(f"direct:{user_id}"),
        ]
        await self.run("delete_user", keys, [user_id], write=write)

    async def get_user(self, user_id: str) -> dict[str, str] | None:
        return await self._hash(self.keys.user(user_id))

    async def user_ids_by_email(self, emails: list[str]) -> list[str | None]:
        """The user id of each address, in order (None: no user has it): one GET per
        distinct address, however often a request repeats it."""
        distinct = list(dict.fromkeys(map(email_key, emails)))
        replies = await self.pipeline([("GET", self.keys.email(e)) for e in distinct])
        found = {e: reply.decode() if reply else None for e, reply in zip(distinct, replies, strict=True)}
        return [found[email_key(e)] for e in emails]

    async def _hash(self, key: str) -> dict[str, str] | None:
        return decode_hash(await self.redis.execute("HGETALL", key)) or None
