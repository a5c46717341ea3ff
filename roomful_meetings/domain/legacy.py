"""The deprecated API's view of a meeting: rooms and props only (pure mapping rules)."""

from __future__ import annotations

from roomful_meetings.domain.meetings import Source


def legacy_source(room_id: str, prop_id: str) -> Source:
    """A legacy roomId + propId: the prop when propId is non-empty, else the room."""
    if prop_id:
        return Source("prop", prop_id, room_id)
    return Source("room", room_id, room_id)


def room_and_prop(source_type: str, source_string: str) -> tuple[str, str]:
    """The legacy (roomId, propId) of a meeting; ("", "") for group and direct meetings."""
    if source_type == "room":
        return source_string.split(":", 1)[1], ""
    if source_type == "prop":
        _, room, prop = source_string.split(":", 2)
        return room, prop
    return "", ""
