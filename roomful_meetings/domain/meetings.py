"""Rules about meetings that need no storage: sources, participants, subjects, durations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from roomful_meetings.errors import BadRequest

# A meeting may last at most 31 days: list and busy-time queries look this far back for
# meetings that started before a range and still overlap it.
MAX_MEETING_MINUTES: Final = 31 * 24 * 60

SOURCE_ARITY: Final = {"room": 1, "prop": 2, "group": 1, "direct": 1, "network": 1}
SOURCE_IDS_HINT: Final = {
    "room": "[roomId]",
    "prop": "[roomId, propId]",
    "group": "[groupId]",
    "direct": "[userId]",
    "network": "[networkId]",
}


@dataclass(frozen=True, slots=True)
class Source:
    type: str
    pk: str
    room: str  # the room of a room or prop source, else ""

    @property
    def string(self) -> str:
        if self.type == "prop":
            return f"prop:{self.room}:{self.pk}"
        return f"{self.type}:{self.pk}"


def check_source_ids(source_type: str, source_ids: list[str]) -> None:
    expected = SOURCE_ARITY[source_type]
    if len(source_ids) != expected:
        raise BadRequest(
            f"`data.sourceIds` for sourceType {source_type!r} must be {SOURCE_IDS_HINT[source_type]}"
            f" ({expected} id{'s' if expected > 1 else ''}), got {len(source_ids)}"
        )


def resolve_source(source_type: str, source_ids: list[str]) -> Source:
    check_source_ids(source_type, source_ids)
    if source_type == "prop":
        return Source("prop", source_ids[1], source_ids[0])
    if source_type == "room":
        return Source("room", source_ids[0], source_ids[0])
    return Source(source_type, source_ids[0], "")


def participant_ids(organizer: str, invited: list[str], direct_target: str | None = None) -> list[str]:
    """Organizer first, then invitees in order, without duplicates or the organizer."""
    ordered = [organizer]
    seen = {organizer}
    for uid in ([direct_target] if direct_target else []) + invited:
        if uid not in seen:
            seen.add(uid)
            ordered.append(uid)
    return ordered


def check_invitee_count(participants: list[str], limit: int, *, where: str = "data") -> None:
    if len(participants) - 1 > limit:
        raise BadRequest(
            f"`{where}.invitedUserIds` may name at most {limit} users, got {len(participants) - 1}"
        )


def with_direct_partner(meeting: Mapping[str, Any], participants: list[str]) -> list[str]:
    """A new participant list (organizer first) as the scripts leave it: the other user of
    a direct meeting stays invited whatever the new invitee list says (while still in it:
    once erased, the meeting never names them again), second."""
    partner = meeting.get("sourcePk", "") if meeting.get("sourceType") == "direct" else ""
    if partner in meeting.get("participantIds", ()) and partner not in participants:
        return [participants[0], partner, *participants[1:]]
    return participants


def check_with_direct_partner(meeting: Mapping[str, Any], participants: list[str] | None, limit: int) -> None:
    """The other user of a direct meeting, whom the scripts put back into a new
    participant list, counts against the invitee limit too."""
    if participants is not None:
        check_invitee_count(with_direct_partner(meeting, participants), limit)


def check_subject(subject: str, *, where: str = "data") -> str:
    if not subject.strip():
        raise BadRequest(f"`{where}.subject` must not be empty")
    return subject


def check_span(start: int, end: int, *, where: str = "data") -> None:
    if end <= start:
        raise BadRequest(f"`{where}.endDate` must be after `{where}.startDate` (to the minute)")
    if end - start > MAX_MEETING_MINUTES:
        raise BadRequest(f"a meeting may last at most {MAX_MEETING_MINUTES // 1440} days")
