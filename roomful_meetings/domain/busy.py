"""Busy time: the one rule that the slot search, findMeetingTimes and the rejectConflicts
check share (contract 10), pure.

A busy entry is one meeting (or series instance) of one person with a level: BUSY when they
organize it or have accepted it, TENTATIVE when their status is `received`; a declined
meeting is no entry at all (the busy index drops it). Every reader gets its entries from
the same index reads (storage/availability.py) and asks this module what they mean:

- the slot search and rejectConflicts treat every entry (TENTATIVE or BUSY) as blocking;
- findMeetingTimes tells BUSY from TENTATIVE, per candidate, with its buffers.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from roomful_meetings.domain.bitmaps import span

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


def blocks_any(
    entries: Sequence[Entry], intervals: Sequence[tuple[int, int]], *, ignore: Container[str] = ()
) -> bool:
    """True when any of the sorted `intervals` collides with an entry (a series' instances)."""
    starts = [a for a, _ in intervals]
    longest = max((b - a for a, b in intervals), default=0)
    for entry in entries:
        if entry.level < BLOCKING:
            continue
        # only intervals starting in (entry.start - longest, entry.end) can overlap it; the
        # id is looked at only then (a user in many series has hundreds of thousands)
        low, high = bisect_right(starts, entry.start - longest), bisect_left(starts, entry.end)
        if any(b > entry.start for _, b in intervals[low:high]) and not is_own(entry.meeting_id, ignore):
            return True
    return False


def touched(starts: Sequence[int], start: int, end: int, length: int, before: int = 0, after: int = 0) -> int:
    """The candidates (bit i = starts[i], sorted ascending) whose interval [s - before,
    s + length + after) overlaps [start, end): a contiguous run of them, found by bisection."""
    low = bisect_right(starts, start - length - after)
    high = bisect_left(starts, end + before)
    return span(low, high)


def candidate_levels(
    entries: Iterable[Entry], starts: Sequence[int], length: int, before: int, after: int
) -> tuple[int, int]:
    """(busy, tentative) candidate bitmaps of one person: bit i is set when candidate i,
    widened by the buffers, overlaps a BUSY (resp. only TENTATIVE) entry. One bisection
    per entry, whatever the number of candidates."""
    busy = tentative = 0
    for entry in entries:
        if entry.level == BUSY:
            busy |= touched(starts, entry.start, entry.end, length, before, after)
        elif entry.level == TENTATIVE:
            tentative |= touched(starts, entry.start, entry.end, length, before, after)
    return busy, tentative & ~busy
