"""admin:* endpoints (contract section 7): batches, all or nothing, upsert by id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from msgspec import UNSET

from roomful_meetings.domain.emails import is_plain_email
from roomful_meetings.domain.time import to_minute, to_ms
from roomful_meetings.domain.zones import is_valid_zone
from roomful_meetings.errors import BadRequest, NotFound
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.models import Resource
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.registry import Routes

routes = Routes()  # this module's endpoints (service/endpoints.py lists the tables)


def check_users(users: list[p.UserIn]) -> None:
    for index, user in enumerate(users):
        if isinstance(user.timeZone, str) and user.timeZone and not is_valid_zone(user.timeZone):
            raise BadRequest(f"`data.users[{index}].timeZone`: unknown time zone {user.timeZone!r}")
        # "" clears the email, as null does.
        if isinstance(user.email, str) and user.email and not is_plain_email(user.email):
            raise BadRequest(
                f"`data.users[{index}].email` must be a plain address (local@domain, without"
                " spaces, control characters, quotes or angle brackets)"
            )


def check_rooms(rooms: list[p.RoomIn]) -> None:
    """Each thumbnail's timestamps in the range of every timestamp (400 naming the field)."""
    for index, room in enumerate(rooms):
        if isinstance(room.thumbnail, Resource):
            for path, value in room.thumbnail.timestamps():
                to_ms(value, f"data.rooms[{index}].thumbnail.{'.'.join(path)}")


def check_sessions(sessions: list[p.SessionIn]) -> None:
    for index, session in enumerate(sessions):
        where = f"data.sessions[{index}]"
        # Each date given is checked here; one given alone is checked against the stored
        # other one by the script (lua/upsert_social_sessions.lua).
        start = None if session.startDate is None else to_minute(session.startDate, f"{where}.startDate")
        end = None if session.endDate is None else to_minute(session.endDate, f"{where}.endDate")
        if start is not None and end is not None and end <= start:
            raise BadRequest(f"`{where}.endDate` must be after its startDate")


@routes.endpoint(
    "admin:upsertUsers",
    p.UpsertUsers,
    "Create or update users in the directory",
    admin=True,
    changes=True,
)
async def upsert_users(services: Services, caller: Caller, data: p.UpsertUsers) -> None:
    check_users(data.users)
    await services.catalog.upsert_users(data.users, write=caller.write)


@routes.endpoint("admin:upsertRooms", p.UpsertRooms, "Create or update rooms", admin=True, changes=True)
async def upsert_rooms(services: Services, caller: Caller, data: p.UpsertRooms) -> None:
    check_rooms(data.rooms)
    await services.catalog.upsert_rooms(data.rooms, write=caller.write)


@routes.endpoint(
    "admin:upsertProps",
    p.UpsertProps,
    "Create or update props in rooms",
    admin=True,
    changes=True,
)
async def upsert_props(services: Services, caller: Caller, data: p.UpsertProps) -> None:
    await services.catalog.upsert_props(data.props, write=caller.write)


@routes.endpoint(
    "admin:upsertGroups",
    p.UpsertGroups,
    "Create or update groups and their members",
    admin=True,
    changes=True,
)
async def upsert_groups(services: Services, caller: Caller, data: p.UpsertGroups) -> None:
    await services.catalog.upsert_groups(data.groups, write=caller.write)


@routes.endpoint(
    "admin:upsertSocialSessions",
    p.UpsertSocialSessions,
    "Create or update social sessions",
    admin=True,
    changes=True,
)
async def upsert_sessions(services: Services, caller: Caller, data: p.UpsertSocialSessions) -> None:
    check_sessions(data.sessions)
    await services.catalog.upsert_sessions(data.sessions, write=caller.write)


@routes.endpoint(
    "admin:deleteRoom",
    p.RoomRef,
    "Delete a room; its meetings become invalid and participants are told",
    admin=True,
    changes=True,
)
async def delete_room(services: Services, caller: Caller, data: p.RoomRef) -> None:
    await services.catalog.delete_room(data.roomId, write=caller.write)


@routes.endpoint(
    "admin:deleteProp",
    p.PropRef,
    "Delete a prop; its meetings become invalid and participants are told",
    admin=True,
    changes=True,
)
async def delete_prop(services: Services, caller: Caller, data: p.PropRef) -> None:
    await services.catalog.delete_prop(data.roomId, data.propId, write=caller.write)


@routes.endpoint(
    "admin:deleteGroup",
    p.GroupRef,
    "Delete a group; its meetings become invalid and participants are told",
    admin=True,
    changes=True,
)
async def delete_group(services: Services, caller: Caller, data: p.GroupRef) -> None:
    await services.catalog.delete_group(data.groupId, write=caller.write)


@routes.endpoint(
    "admin:deleteSocialSession",
    p.SessionRef,
    "Delete a social session",
    admin=True,
    changes=True,
)
async def delete_session(services: Services, caller: Caller, data: p.SessionRef) -> None:
    await services.catalog.delete_session(data.id, write=caller.write)


@routes.endpoint(
    "admin:deleteUser",
    p.UserRef,
    "Erase a user, their meetings as organizer and their invitations",
    admin=True,
    changes=True,
)
async def delete_user(services: Services, caller: Caller, data: p.UserRef) -> None:
    await services.catalog.delete_user(data.userId, write=caller.write)


async def import_catalog(services: Services, catalog: p.CatalogFile, chunk: int = 1000) -> dict[str, int]:
    """Load a catalog file in dependency order (users, rooms, props, groups, sessions), in
    chunks (a file may hold more than one script should write at once). What the file
    itself can be refused for is checked before the first chunk: a large import is not one
    atomic step, but a mistake in it writes nothing."""
    check_users(catalog.users)
    check_rooms(catalog.rooms)
    check_sessions(catalog.sessions)
    store = services.catalog
    await check_prop_rooms(services, catalog)
    await check_session_dates(services, catalog.sessions)
    await _in_chunks(catalog.users, store.upsert_users, chunk)
    await _in_chunks(catalog.rooms, store.upsert_rooms, chunk)
    await _in_chunks(catalog.props, store.upsert_props, chunk)
    await _in_chunks(catalog.groups, store.upsert_groups, chunk)
    await _in_chunks(catalog.sessions, store.upsert_sessions, chunk)
    counts = {
        "users": len(catalog.users),
        "rooms": len(catalog.rooms),
        "props": len(catalog.props),
        "groups": len(catalog.groups),
        "sessions": len(catalog.sessions),
    }
    return counts


async def check_prop_rooms(services: Services, catalog: p.CatalogFile) -> None:
    """Each prop's room is in the file or stored (404 naming the first that is neither)."""
    in_file = {room.id for room in catalog.rooms}
    elsewhere = sorted({prop.roomId for prop in catalog.props} - in_file)
    stored = (
        await services.catalog.pipeline([("EXISTS", services.keys.room(r)) for r in elsewhere])
        if elsewhere
        else []
    )
    missing = [room for room, found in zip(elsewhere, stored, strict=True) if not found]
    if missing:
        raise NotFound(f"room {missing[0]} not found (a prop's roomId: neither in the file nor stored)")


async def check_session_dates(services: Services, sessions: list[p.SessionIn]) -> None:
    """What lua/upsert_social_sessions.lua checks, before the import's first chunk: a
    session named again takes its earlier entry's dates, one given alone the stored other
    one, and none may end before it starts (400 naming the entry)."""
    alone = sorted({s.id for s in sessions if s.startDate is None or s.endDate is None})
    stored = await services.catalog.pipeline(
        [("HMGET", services.keys.session(sid), "start", "end") for sid in alone]
    )
    dates = {sid: [int(v) if v else 0 for v in both] for sid, both in zip(alone, stored, strict=True)}
    for index, session in enumerate(sessions):
        now = dates.setdefault(session.id, [0, 0])
        where = f"data.sessions[{index}]"
        if session.startDate is not None:
            now[0] = to_minute(session.startDate, f"{where}.startDate")
        if session.endDate is not None:
            now[1] = to_minute(session.endDate, f"{where}.endDate")
        if now[0] and now[1] and now[1] <= now[0]:
            raise BadRequest(
                f"`{where}`: the session would end before it starts (with its other entries' or stored dates)"
            )


T = TypeVar("T")


async def _in_chunks(items: list[T], upsert: Callable[[list[T]], Awaitable[None]], chunk: int) -> None:
    for start in range(0, len(items), chunk):
        await upsert(items[start : start + chunk])


def profile_from_claims(
    user_id: str, email: str | None, given: str | None, family: str | None, zone: str | None
) -> p.UserIn:
    """The directory entry a token's profile claims upsert on connect (absent claims keep).
    A claim that is no email or no zone is ignored like an absent one: a profile claim is
    no reason to refuse the connection (only `sub`, times and the tenant are)."""
    return p.UserIn(
        id=user_id,
        email=email if email is not None and (not email or is_plain_email(email)) else UNSET,
        firstName=given if given is not None else UNSET,
        lastName=family if family is not None else UNSET,
        timeZone=zone if zone and is_valid_zone(zone) else UNSET,
    )
