"""The instances of a series (contract 9): their times, statuses and meeting objects (pure).

A series is stored once; what one instance has of its own sits beside it, keyed by the
instance's original start minute: an override (its own subject, description, colour,
start and end), a cancellation, and per-invitee statuses. An instance's status for a user
is its own, else the user's series status, else "received"; the organizer is "accepted".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from roomful_meetings.domain.busy import BUSY, Instances, SeriesEntries, level
from roomful_meetings.domain.recurrence import Series, instance_id, is_occurrence, last_end, overlapping
from roomful_meetings.domain.rrule import Rule
from roomful_meetings.domain.time import format_utc

# The fields an instance may have of its own (the rest is always the series').
OWN_FIELDS: Final = ("subject", "description", "color")


@dataclass(frozen=True, slots=True)
class SeriesState:
    """A series as read at one version, with everything its instances need."""

    sid: str
    version: str
    series: Series
    organizer: str
    pids: tuple[str, ...]
    statuses: Mapping[str, str]  # invitee -> series status
    overrides: Mapping[int, Mapping[str, Any]]  # original start -> own fields ("start", "end", ...)
    cancelled: frozenset[int]
    instance_statuses: Mapping[tuple[int, str], str]  # (original start, invitee) -> status


def times(state: SeriesState, orig: int) -> tuple[int, int]:
    own = state.overrides.get(orig, {})
    return int(own.get("start", orig)), int(own.get("end", orig + state.series.length))


def status(state: SeriesState, orig: int, uid: str) -> str:
    if uid == state.organizer:
        return "accepted"
    return state.instance_statuses.get((orig, uid)) or state.statuses.get(uid) or "received"


def exists(state: SeriesState, orig: int) -> bool:
    """The rule produces this instance and it is not cancelled."""
    return orig not in state.cancelled and is_occurrence(state.series, orig)


def window(state: SeriesState, low: int, high: int) -> Instances:
    """The instances overlapping [low, high), not cancelled, ordered by start (then
    original start), as integers. Moved instances count where they now are."""
    origs = overlapping(state.series, low, high)
    length = state.series.length
    if state.cancelled or state.overrides:
        gone = state.cancelled | state.overrides.keys()
        origs = tuple([orig for orig in origs if orig not in gone])
    moved = []
    for orig in state.overrides:
        start, end = times(state, orig)
        if orig not in state.cancelled and start < high and end > low and is_occurrence(state.series, orig):
            moved.append((start, orig, end))
    if not moved:
        return Instances(state.sid, origs, origs, tuple([orig + length for orig in origs]))
    items = sorted([(orig, orig, orig + length) for orig in origs] + moved)
    return Instances(
        state.sid,
        tuple([orig for _, orig, _ in items]),
        tuple([start for start, _, _ in items]),
        tuple([end for _, _, end in items]),
    )


def instances(state: SeriesState, low: int, high: int) -> list[tuple[int, int, int]]:
    """(original start, start, end) of the instances overlapping [low, high), not
    cancelled, ordered by start. Moved instances count where they now are."""
    found = window(state, low, high)
    return list(zip(found.origs, found.starts, found.ends, strict=True))


def own_statuses(state: SeriesState) -> dict[str, dict[int, str]]:
    """Each invitee's statuses of their own, by original start (one pass over the state)."""
    out: dict[str, dict[int, str]] = {}
    for (orig, uid), own in state.instance_statuses.items():
        if own:
            out.setdefault(uid, {})[orig] = own
    return out


def entries(state: SeriesState, found: Instances, uid: str, own: Mapping[int, str]) -> SeriesEntries:
    """`uid`'s busy entries at the instances `found` (domain/busy.py): the level of their
    series status, but where they have one of their own (`own`, from `own_statuses`)."""
    if uid == state.organizer:
        return SeriesEntries(found, BUSY)
    usual = level(False, state.statuses.get(uid) or "received")
    levels = {orig: at for orig, status in own.items() if (at := level(False, status)) != usual}
    return SeriesEntries(found, usual, levels) if levels else SeriesEntries(found, usual)


def bounds(series: Series, overrides: Mapping[int, Mapping[str, Any]]) -> tuple[int, int | None]:
    """The earliest start and latest end (None: never ends) of any instance, moved ones
    included: the series index needs both."""
    low, high = series.start, last_end(series)
    for own in overrides.values():
        if "start" in own:
            low = min(low, int(own["start"]))
            if high is not None:
                high = max(high, int(own["end"]))
    return low, high


def ends_after(state: SeriesState, minute: int) -> bool:
    """Whether an instance (not cancelled; a moved one where it is now) ends after `minute`.
    Windows double from `minute` on, so a long series costs a few expansions, not one of
    all its instances."""
    high = bounds(state.series, state.overrides)[1]
    if high is None:  # never ends: whatever was cancelled, an instance lies ahead
        return True
    low, span = minute, 7 * 1440
    while low <= high:
        if instances(state, low, min(low + span, high + 1)):
            return True
        low, span = low + span, span * 2
    return False


def keeps_own_changes(old: Series, orig: int, base: Rule, new: Series) -> bool:
    """Whether the instances' own changes (moves, cancellations, statuses) from occurrence
    `orig` of `old` on carry over to `new`, the series that goes on from there under `base`
    (`old`'s rule, or what a split leaves of it): only while the times, length, rule and
    zone stay; a change of any of them discards them (contract 9)."""
    return (new.start, new.length, new.rule, new.zone) == (orig, old.length, base, old.zone)


def instance_object(series_object: Mapping[str, Any], state: SeriesState, orig: int) -> dict[str, Any]:
    """The full meeting object of one instance, from the series' object."""
    start, end = times(state, orig)
    own = state.overrides.get(orig, {})
    out = dict(series_object)
    out.pop("recurrence", None)
    out["meetingId"] = instance_id(state.sid, orig)
    out["startDate"], out["endDate"] = format_utc(start), format_utc(end)
    for name in OWN_FIELDS:
        if name in own:
            out[name] = own[name]
    # The later of its own last change and the series': a series change shows in every
    # instance. Compared as instants, not as text: a series never changed since it was made
    # has `updated` to the minute ("...T10:00:00Z"), which as text sorts after a change of
    # the same second ("...T10:00:00.500Z").
    own_updated = own.get("updated")
    if own_updated and datetime.fromisoformat(own_updated) > datetime.fromisoformat(out["updated"]):
        out["updated"] = own_updated
    out["participants"] = [
        {"userId": uid, "status": status(state, orig, uid)} for uid in series_object["participantIds"]
    ]
    out["seriesId"] = state.sid
    out["originalStartDate"] = format_utc(orig)
    return out
