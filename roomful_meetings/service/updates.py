"""What an updateMeeting request asks to change, checked (shared by meetings and series)."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from roomful_meetings.domain import meetings as rules
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service.context import Caller, Services


def given(value: Any) -> bool:
    return value is not UNSET and value is not None


def field_values(data: p.UpdateMeeting) -> dict[str, object]:
    """The stored fields to replace (subject, description, color), by field name."""
    values: dict[str, object] = {}
    if given(data.subject):
        values["subject"] = rules.check_subject(data.subject)  # type: ignore[arg-type]
    if given(data.description):
        values["description"] = data.description
    if given(data.color):
        values["color"] = data.color
    return values


def new_participants(services: Services, caller: Caller, data: p.UpdateMeeting) -> list[str] | None:
    """The participant ids after the change (organizer first), None when unchanged."""
    if not given(data.invitedUserIds):
        return None
    participants = rules.participant_ids(caller.user_id, data.invitedUserIds)  # type: ignore[arg-type]
    rules.check_invitee_count(participants, services.settings.max_invitees)
    return participants
