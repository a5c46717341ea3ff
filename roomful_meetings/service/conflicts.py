"""rejectConflicts (contract 10): a change applies only if none of its participants is
busy (organizer, accepted or received) at any of its times, checked atomically with the
write.

Compare-and-set: the conflicts are computed here, with domain/busy.py, from the same
entries the slot search and findMeetingTimes read (labelled with each participant's busy
version); the write then runs with those versions as its guard (the caller's
`write.busy_guard`, storage/base.py Write), and its script refuses (298) when any moved,
so the check is made again. Of
two racing changes for the same person and time, the second sees the first's entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Final, NamedTuple, TypeVar

import msgspec

from roomful_meetings.domain import instances as inst
from roomful_meetings.domain import meetings as rules
from roomful_meetings.domain.busy import Intervals, blocks_any, shared_series
from roomful_meetings.domain.recurrence import Series, check_series, going_on, overlapping, parse_instance_id
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.domain.time import to_minute
from roomful_meetings.errors import Conflict, NotFound, Unavailable
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.series import get_any, instance_state, series_zone
from roomful_meetings.service.series_changes import (
    check_instance_change,
    going_on_rule,
    new_times,
    rule_and_zone,
)
from roomful_meetings.service.updates import new_participants
from roomful_meetings.storage.base import BusyMoved
from roomful_meetings.storage.budget import ExpansionBudget

T = TypeVar("T")
# Attempts before giving up with 503 (each lost race means a participant's busy time
# changed between the check and the write).
ATTEMPTS: Final = 20
# A series collides when any instance in its first 366 days does (contract 10).
SERIES_HORIZON: Final = 366 * 1440


def series_times(series: Series) -> list[tuple[int, int]]:
    return [(o, o + series.length) for o in overlapping(series, series.start, series.start + SERIES_HORIZON)]


async def conflicting(
    services: Services, participants: Sequence[str], times: Sequence[tuple[int, int]], ignore: Container[str]
) -> tuple[list[str], dict[str, str]]:
    """The participants busy at any of `times` (in their order) and every participant's
    busy version, from one read. The organizer (the first) counts even without a profile:
    erased by admin:deleteUser while still connected, they go on making meetings, which
    are theirs (as in the slot search, `keep`)."""
    if not times:
        return [], {}
    low, high = times[0][0], max(b for _, b in times)
    budget = ExpansionBudget(
        services.settings.max_expanded_instances,
        "the check covers a series' first 366 days: leave out rejectConflicts, or invite fewer people",
    )
    _users, entries = await services.availability.entries(
        list(participants), low, high, default_zone="UTC", keep=participants[0], budget=budget
    )
    against = Intervals(times)  # each series' collisions worked out once, for everyone
    for series in shared_series(entry for _, entry in entries.values()):
        against.colliding(series)
        await budget.step(len(series) + 1)
    busy = []
    for uid in participants:
        if uid in entries:
            await budget.step(entries[uid][1].cost(against.hits))
            if blocks_any(entries[uid][1], against, ignore=ignore):
                busy.append(uid)
    return busy, {uid: version.decode() for uid, (version, _) in entries.items()}


class Target(NamedTuple):
    participants: Sequence[str]
    times: list[tuple[int, int]]  # the times they need
    # Raises the 404 or 403 the write would answer before its conflicts (storage/meetings.py
    # check_change), asked only when someone is busy.
    refusals: Callable[[], Awaitable[None]] | None = None


async def guarded(
    services: Services,
    caller: Caller,
    target: Callable[[], Awaitable[Target | None]],
    write: Callable[[Caller], Awaitable[T]],
    *,
    ignore: Container[str] = (),
) -> T:
    """Run `write` if none of the `target`'s participants is busy at its times (409 naming
    them otherwise), giving it the caller with the busy versions read as the guard of its
    scripts; again, from a new read of the target, while they moved in between (a change of
    the meeting itself moves its organizer's: the participants may be others now). No
    target (a caller who may not make the change) is no check: the write refuses it, in
    the contract's order (404 before 403), and nobody's busy time is told."""
    key = caller.write.retry_key

    async def recorded() -> bool:
        """A repeat of a recorded request: its script answers what the first one did."""
        return key is not None and bool(await services.meetings.redis.execute("EXISTS", key))

    if await recorded():
        return await write(caller)
    for _ in range(ATTEMPTS):
        try:
            found = await target()
            if found is None:
                return await write(caller)
            busy, versions = await conflicting(services, found.participants, sorted(found.times), ignore)
            if busy:
                if found.refusals is not None:  # 404 and 403 come first (contract 3)
                    await found.refusals()
                raise Conflict(f"rejectConflicts: busy at that time: {', '.join(busy)}")
        except (Conflict, NotFound):
            # A repeat racing its first request may read what that one made (its meeting,
            # the instance its split ended): once the first is recorded, answer as it did.
            if await recorded():
                return await write(caller)
            raise
        try:
            return await write(replace(caller, write=caller.write.guarded(versions)))
        except BusyMoved:
            continue
    raise Unavailable("the participants' calendars kept changing while this change was checked; try again")


def new_or_stored(value: object, field: str, stored: str) -> int:
    """The epoch minute of an update's time, else of the stored RFC 3339 one."""
    if isinstance(value, datetime | int):
        return to_minute(value, field)
    return int(datetime.fromisoformat(stored).timestamp()) // 60


class _Current(msgspec.Struct):
    """What a conflict check needs of a meeting as it stands (other fields skipped)."""

    startDate: str
    endDate: str
    organizerId: str
    participantIds: list[str]
    sourceType: str
    sourcePk: str
    recurrence: p.RecurrenceIn | None = None


@dataclass(frozen=True, slots=True)
class LaterInstances:
    """The instances of series `sid` from original start `first` on: what a split hands
    over to its new series, which its check ignores. The instances that stay with the old
    series are another meeting's (the new series has a meetingId of its own): they
    collide with it (contract 9, 10)."""

    sid: str
    first: int

    def __contains__(self, meeting_id: object) -> bool:
        target = parse_instance_id(meeting_id) if isinstance(meeting_id, str) else None
        return target is not None and target[0] == self.sid and target[1] >= self.first


def own_entries(data: p.UpdateMeeting) -> Container[str]:
    """The meetings whose busy entries are the updated meeting's own (a series' instances
    are one meeting; a split's, the instances it takes over), which its check ignores."""
    target = parse_instance_id(data.meetingId)
    if target is None:
        return {data.meetingId}
    if data.scope == "following":
        return LaterInstances(*target)
    return {target[0]}


async def update_target(services: Services, caller: Caller, data: p.UpdateMeeting) -> Target | None:
    """The participants and times of the meeting as the update would leave it; None when
    the caller is not its organizer. What the write would refuse as malformed (400) is
    refused here first: it comes before a conflict (contract 3)."""
    target = parse_instance_id(data.meetingId)
    if target is not None and data.scope != "following":
        check_instance_change(data)
    current = msgspec.json.decode(await get_any(services, caller, data.meetingId), type=_Current)
    start = new_or_stored(data.startDate, "data.startDate", current.startDate)
    end = new_or_stored(data.endDate, "data.endDate", current.endDate)
    # a new invitee list keeps the other user of a direct meeting, as the scripts do
    invited = new_participants(services, caller, data)
    participants = (
        rules.with_direct_partner(msgspec.structs.asdict(current), invited)
        if invited is not None
        else current.participantIds
    )
    if current.organizerId != caller.user_id:  # no check, which would name who is busy
        return None
    added = [uid for uid in participants if uid not in current.participantIds]
    refusals = partial(services.meetings.check_change, caller.user_id, added) if added else None
    if target is not None and data.scope != "following":
        return Target(participants, [(start, end)], refusals)
    if current.recurrence is not None or target is not None:
        return Target(participants, await series_times_after(services, caller, data), refusals)
    if isinstance(data.recurrence, p.RecurrenceIn):  # a single meeting becoming a series
        zone = await series_zone(services, caller, data.recurrence, "data")
        series = Series(parse_rule(data.recurrence.rule, "data.recurrence.rule"), zone, start, end - start)
        check_series(series)
        return Target(participants, series_times(series), refusals)
    return Target(participants, [(start, end)], refusals)


async def series_times_after(
    services: Services, caller: Caller, data: p.UpdateMeeting
) -> list[tuple[int, int]]:
    """The instances' times, in the first 366 days, of the series that an update of a
    series (or of an instance and the following ones) leaves, as series_changes.py builds
    it: the instances keep their own moves and cancellations unless the change is to the
    times, length, rule or zone (contract 9)."""
    target = parse_instance_id(data.meetingId)
    if target is None:
        _, state = await services.meetings.series.get(data.meetingId, caller.user_id)
        orig = state.series.start
    else:
        _, state, orig = await instance_state(services, caller, data.meetingId)
    old = state.series
    base = going_on_rule(old, orig)
    start, end = new_times(data, orig, orig + old.length)
    rule, zone = await rule_and_zone(services, caller, data, base, old.zone)
    series = going_on(old, orig, rule, zone, start, end - start)
    check_series(series)
    kept = inst.keeps_own_changes(old, orig, base, series)
    after = replace(
        state,
        series=series,
        overrides={o: own for o, own in state.overrides.items() if o >= orig} if kept else {},
        cancelled=frozenset(o for o in state.cancelled if o >= orig) if kept else frozenset(),
    )
    low = inst.bounds(series, after.overrides)[0]
    return [(a, b) for _, a, b in inst.instances(after, low, series.start + SERIES_HORIZON)]
