"""Busy time: the one rule that the slot search, findMeetingTimes and the rejectConflicts
check share (contract 10), pure.

A busy entry is one meeting (or series instance) of one person with a level: BUSY when they
organize it or have accepted it, TENTATIVE when their status is `received`; a declined
meeting is no entry at all (the busy index drops it). Every reader gets its entries from
the same index reads (storage/availability.py) and asks this module what they mean:

- the slot search and rejectConflicts treat every entry (TENTATIVE or BUSY) as blocking;
- findMeetingTimes tells BUSY from TENTATIVE, per candidate, with its buffers.

A person's entries (`Entries`) hold their single meetings one by one and their series a
series at a time: the instances of a series in a window (`Instances`, integers) are the
same for all its participants, and a person's level is the same at all of them but the
few where they have a status of their own (`SeriesEntries`). So what an instance means for
a search (the candidates it touches, whether it collides) is worked out once per series
and request, and each person costs a step per series, not per instance: 100 people in the
same 40 daily series are 40 x 366 instances to look at for a year, not 100 x 40 x 366.
Iterating `Entries` gives every entry one by one, the plain reading the tests hold the
rest to.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from roomful_meetings.domain.bitmaps import span
from roomful_meetings.domain.recurrence import instance_id

FREE: Final = 0
TENTATIVE: Final = 1
BUSY: Final = 2
# What blocks a slot in a time-slot search and what a rejectConflicts change collides with.
BLOCKING: Final = TENTATIVE


def level(organizer: bool, status: str | None) -> int:
    """An entry's level for one person from their role and RSVP status."""
    if organizer or status == "accepted":
        return BUSY
    if status == "received":
        return TENTATIVE
    return FREE


@dataclass(frozen=True, slots=True)
class Entry:
    meeting_id: str  # a meeting id or an instance id
    start: int  # epoch minutes
    end: int
    level: int


@dataclass(frozen=True, slots=True, eq=False)
class Instances:
    """The instances of one series that overlap one window (cancelled ones left out, moved
    ones where they are now), ordered by start then original start: what all its
    participants share. Equal only to itself: what a request works out for one (its
    touched candidates, its collisions) is kept by the object, in a dict of the request."""

    sid: str
    origs: tuple[int, ...]  # original starts: what instance statuses are keyed by
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.origs)


@dataclass(frozen=True, slots=True)
class SeriesEntries:
    """One person's entries at one series' instances: `level` at every instance but those
    whose original start is in `own`, where they have a status of their own (its level
    there; FREE is no entry)."""

    instances: Instances
    level: int
    own: Mapping[int, int] = field(default_factory=dict)

    def level_at(self, orig: int) -> int:
        return self.own.get(orig, self.level) if self.own else self.level

    def levels(self) -> Iterator[tuple[int, int]]:
        """(index, level) of each instance at which this is an entry."""
        if not self.own:
            if self.level:
                yield from ((i, self.level) for i in range(len(self.instances)))
            return
        for i, orig in enumerate(self.instances.origs):
            if found := self.own.get(orig, self.level):
                yield i, found


@dataclass(frozen=True, slots=True)
class Entries:
    """One person's busy entries over one window: single meetings one by one, series
    instances a series at a time."""

    singles: Sequence[Entry] = ()
    series: Sequence[SeriesEntries] = ()

    def __iter__(self) -> Iterator[Entry]:
        """Every entry one by one, a series instance under its instance id."""
        yield from self.singles
        for entries in self.series:
            ins = entries.instances
            for i, found in entries.levels():
                yield Entry(instance_id(ins.sid, ins.origs[i]), ins.starts[i], ins.ends[i], found)

    def cost(self, done: Collection[Instances] = ()) -> int:
        """Steps a reader takes over these entries: one per single meeting and series, one
        per instance of a series where the person has statuses of their own (read
        instance by instance), and one per instance of each series not in `done` (not
        worked out yet in this request: it will be now)."""
        steps = len(self.singles)
        for series in self.series:
            steps += 1 + (len(series.instances) if series.own or series.instances not in done else 0)
        return steps


def shared_series(people: Iterable[Entries]) -> list[Instances]:
    """The series at which someone of these people has entries at every instance at one
    level (TENTATIVE or BUSY, no status of their own): what a reader works out once, for
    all of them, series by series (so that it can pause between two)."""
    found: dict[Instances, None] = {}
    for entries in people:
        for series in entries.series:
            if not series.own and series.level >= TENTATIVE:
                found[series.instances] = None
    return list(found)


def is_own(meeting_id: str, ignore: Container[str]) -> bool:
    """The entry is one of the meetings in `ignore` or an instance of one of those series."""
    return meeting_id in ignore or meeting_id.partition("_")[0] in ignore


def level_over(entries: Iterable[Entry], start: int, end: int, *, ignore: Container[str] = ()) -> int:
    """The highest level among the entries overlapping [start, end), leaving out the
    meetings (and series' instances) in `ignore`: the meeting being changed."""
    found = FREE
    for entry in entries:
        if entry.start < end and entry.end > start and not is_own(entry.meeting_id, ignore):
            found = max(found, entry.level)
    return found


def blocks(entries: Iterable[Entry], start: int, end: int, *, ignore: Container[str] = ()) -> bool:
    """True when [start, end) collides with an entry (slot search, rejectConflicts)."""
    return level_over(entries, start, end, ignore=ignore) >= BLOCKING


class Intervals:
    """Sorted intervals (a change's times: a series' instances) to check entries against."""

    def __init__(self, intervals: Sequence[tuple[int, int]]) -> None:
        self.intervals = intervals
        self.starts = [a for a, _ in intervals]
        self.longest = max((b - a for a, b in intervals), default=0)
        # per series' Instances: the indexes of its instances that collide (one request's)
        self.hits: dict[Instances, list[int]] = {}

    def collide(self, start: int, end: int) -> bool:
        # only intervals starting in (start - longest, end) can overlap [start, end)
        low, high = bisect_right(self.starts, start - self.longest), bisect_left(self.starts, end)
        return any(b > start for _, b in self.intervals[low:high])

    def colliding(self, instances: Instances) -> list[int]:
        found = self.hits.get(instances)
        if found is None:
            collide = self.collide
            found = self.hits[instances] = [
                i
                for i, (a, b) in enumerate(zip(instances.starts, instances.ends, strict=True))
                if collide(a, b)
            ]
        return found


def blocks_any(
    entries: Entries, intervals: Intervals | Sequence[tuple[int, int]], *, ignore: Container[str] = ()
) -> bool:
    """True when any of the sorted `intervals` collides with an entry (a series' instances).
    Pass one `Intervals` for every person checked: each series is checked once."""
    times = intervals if isinstance(intervals, Intervals) else Intervals(intervals)
    for entry in entries.singles:
        # the id is looked at only on a collision
        if (
            entry.level >= BLOCKING
            and times.collide(entry.start, entry.end)
            and not is_own(entry.meeting_id, ignore)
        ):
            return True
    for series in entries.series:
        ins = series.instances
        if ins.sid in ignore or (not series.own and series.level < BLOCKING):
            continue
        for i in times.colliding(ins):
            if series.level_at(ins.origs[i]) >= BLOCKING and not (
                ignore and instance_id(ins.sid, ins.origs[i]) in ignore
            ):
                return True
    return False


def touched(starts: Sequence[int], start: int, end: int, length: int, before: int = 0, after: int = 0) -> int:
    """The candidates (bit i = starts[i], sorted ascending) whose interval [s - before,
    s + length + after) overlaps [start, end): a contiguous run of them, found by bisection."""
    low = bisect_right(starts, start - length - after)
    high = bisect_left(starts, end + before)
    return span(low, high)


def touched_by_all(instances: Instances, starts: Sequence[int], length: int, before: int, after: int) -> int:
    """The candidates that any of a series' instances touches (as `touched`): one
    bisection pair per instance, and the runs merged before they become bits (a daily
    series over 62 days at step 5 is 62 runs, not 2,480 window-long integers)."""
    bits = 0
    run_low = run_high = 0
    for a, b in zip(instances.starts, instances.ends, strict=True):
        low = bisect_right(starts, a - length - after)
        high = bisect_left(starts, b + before)
        if low >= high:
            continue
        if low <= run_high and run_high > run_low:
            run_high = max(run_high, high)
            continue
        bits |= span(run_low, run_high)
        run_low, run_high = low, high
    return bits | span(run_low, run_high)


def candidate_levels(
    entries: Entries,
    starts: Sequence[int],
    length: int,
    before: int,
    after: int,
    shared: dict[Instances, int] | None = None,
) -> tuple[int, int]:
    """(busy, tentative) candidate bitmaps of one person: bit i is set when candidate i,
    widened by the buffers, overlaps a BUSY (resp. only TENTATIVE) entry. One bisection
    per entry, whatever the number of candidates; a series' instances are worked out once
    for everyone given the same `shared` (the candidates each series touches)."""
    busy = tentative = 0
    for entry in entries.singles:
        if entry.level == BUSY:
            busy |= touched(starts, entry.start, entry.end, length, before, after)
        elif entry.level == TENTATIVE:
            tentative |= touched(starts, entry.start, entry.end, length, before, after)
    cache = {} if shared is None else shared
    for series in entries.series:
        ins = series.instances
        if not series.own:
            if series.level < TENTATIVE:
                continue
            bits = cache.get(ins)
            if bits is None:
                bits = cache[ins] = touched_by_all(ins, starts, length, before, after)
            if series.level == BUSY:
                busy |= bits
            else:
                tentative |= bits
            continue
        for i, found in series.levels():
            bits = touched(starts, ins.starts[i], ins.ends[i], length, before, after)
            if found == BUSY:
                busy |= bits
            elif found == TENTATIVE:
                tentative |= bits
    return busy, tentative & ~busy
