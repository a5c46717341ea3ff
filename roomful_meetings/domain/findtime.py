"""findMeetingTimes (contract 10): candidates, each person's state at each, ranking (pure).

Everything is vectorised over candidates: per person, one Python integer per state (bit i
= candidate i), built from one bisection per busy entry and per unavailable run; counts
of free and tentative people per candidate are bit-sliced counters (a binary number per
candidate, one integer per bit), so 17,856 candidates x 100 people costs a few thousand
big-integer operations, not 1.8 million Python steps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from roomful_meetings.domain.bitmaps import ones
from roomful_meetings.domain.busy import Entry, candidate_levels, touched
from roomful_meetings.domain.zones import LocalDay

FREE_WORD: Final = "free"
TENTATIVE_WORD: Final = "tentative"
BUSY_WORD: Final = "busy"
UNAVAILABLE_WORD: Final = "unavailable"
NOT_FOUND: Final = "attendeesNotFound"
ORGANIZER_UNAVAILABLE: Final = "organizerUnavailable"
ATTENDEES_UNAVAILABLE: Final = "attendeesUnavailable"
_ONES: Final = re.compile("1+")
# A level mask with at most this many candidates is ranked candidate by candidate;
# a larger one level by level of tentative count (both bounded).
SMALL_LEVEL: Final = 256


@dataclass(frozen=True, slots=True, eq=False)
class Grid:
    """The candidate starts of one search, ascending; equal (and hashed) by what made them,
    so that per-person results can be cached without hashing thousands of starts."""

    starts: tuple[int, ...]
    made_from: tuple[object, ...]

    def __hash__(self) -> int:
        return hash(self.made_from)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.made_from == other.made_from


def candidate_starts(
    days: Sequence[LocalDay], start: int, end: int, length: int, step: int, earliest: int
) -> Grid:
    """Each local midnight plus multiples of `step` elapsed minutes (up to the next
    midnight), lying wholly inside [start, end) and not before `earliest`; ascending."""
    out: list[int] = []
    midnights = []
    for day in days:
        first = max(day.start, start, earliest)
        # the first multiple of step from this midnight at or after `first`
        minute = day.start + -(-(first - day.start) // step) * step
        stop = min(day.end, end - length + 1)
        out.extend(range(minute, stop, step))
        midnights.append(day.start)
    return Grid(tuple(out), (tuple(midnights), max(start, earliest), end, length, step))


@dataclass(frozen=True, slots=True)
class Person:
    """One counted person: their busy entries and available minutes (bit 0 = `origin`)."""

    user_id: str
    required: bool
    entries: Sequence[Entry]
    available: int
    origin: int
    window: int  # length of `available` in minutes


@dataclass(frozen=True, slots=True)
class States:
    """One person's candidate bitmaps, disjoint: busy, tentative, unavailable; free is the rest."""

    busy: int
    tentative: int
    unavailable: int
    free: int

    def word(self, index: int) -> str:
        return self.words_at([index])[0]

    def words_at(self, indices: Sequence[int]) -> list[str]:
        """The words at these candidates: the bitmaps as bytes once, then one byte lookup
        per candidate (a shift of a candidate-long integer per lookup cost 6 ms a search)."""
        size = (max(indices, default=0) >> 3) + 1
        busy, tentative, away = (
            (bits & ((1 << 8 * size) - 1)).to_bytes(size, "little")
            for bits in (self.busy, self.tentative, self.unavailable)
        )
        out = []
        for index in indices:
            at, bit = index >> 3, 1 << (index & 7)
            if busy[at] & bit:
                out.append(BUSY_WORD)
            elif tentative[at] & bit:
                out.append(TENTATIVE_WORD)
            elif away[at] & bit:
                out.append(UNAVAILABLE_WORD)
            else:
                out.append(FREE_WORD)
        return out


def person_states(person: Person, grid: Grid, length: int, before: int, after: int) -> States:
    """One person's word at each candidate, as four disjoint bitmaps (cached by content:
    searches repeat people, windows and settings)."""
    entries = tuple(person.entries)
    return _states(entries, person.available, person.origin, person.window, grid, length, before, after)


@lru_cache(maxsize=8192)
def _states(
    entries: tuple[Entry, ...],
    available: int,
    origin: int,
    window: int,
    grid: Grid,
    length: int,
    before: int,
    after: int,
) -> States:
    starts = grid.starts
    everyone = ones(len(starts))
    busy, tentative = candidate_levels(entries, starts, length, before, after)
    away = 0
    for a, b in _away_runs(available, origin, window):
        away |= touched(starts, a, b, length)
    unavailable = away & ~busy & ~tentative
    return States(busy, tentative, unavailable, everyone & ~(busy | tentative | unavailable))


@lru_cache(maxsize=8192)
def _away_runs(available: int, origin: int, window: int) -> list[tuple[int, int]]:
    """The runs of unavailable minutes. Read with a regular expression over the binary
    text (C speed): bitmaps.runs shifts a window-long integer per run, 2 ms for 62 days."""
    text = format(~available & ones(window), f"0{window}b")[::-1]  # minute 0 first
    return [(origin + m.start(), origin + m.end()) for m in _ONES.finditer(text)]


def _add(slices: list[int], bits: int) -> None:
    """Add 1 to the counter of every candidate in `bits` (a ripple-carry over bit slices)."""
    for j in range(len(slices)):
        if not bits:
            return
        slices[j], bits = slices[j] ^ bits, slices[j] & bits
    if bits:
        raise AssertionError("counter overflow")  # sized for the number of people


def _equal(slices: list[int], value: int, everyone: int) -> int:
    out = everyone
    for j, bits in enumerate(slices):
        out &= bits if value >> j & 1 else ~bits
    return out


def _value(slices: list[int], index: int) -> int:
    return sum((bits >> index & 1) << j for j, bits in enumerate(slices))


def _indices(bits: int) -> list[int]:
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out


@dataclass(frozen=True, slots=True)
class Suggestion:
    index: int  # into the candidate starts
    free: int
    tentative: int


def rank(
    states: Sequence[States], required: Sequence[bool], count: int, percentage: int, limit: int
) -> list[Suggestion]:
    """The best `limit` qualifying candidates: every required person free, free share at
    least `percentage`; by free people (desc), tentative people (desc), then start."""
    everyone = ones(count)
    qualify = everyone
    width = max(len(states), 1).bit_length()
    free_count, tentative_count = [0] * width, [0] * width
    for person, needed in zip(states, required, strict=True):
        if needed:
            qualify &= person.free
        _add(free_count, person.free)
        _add(tentative_count, person.tentative)
    out: list[Suggestion] = []
    people = len(states)
    least = -(-percentage * people // 100)  # free * 100 >= percentage * people
    for free in range(people, least - 1, -1):
        level = qualify & _equal(free_count, free, everyone)
        if level:
            out += _rank_level(level, tentative_count, free, people - free, everyone, limit - len(out))
        if len(out) >= limit:
            break
    return out


def _rank_level(
    level: int, tentative_count: list[int], free: int, most: int, everyone: int, limit: int
) -> list[Suggestion]:
    """Candidates with the same free count, by tentative count (desc) then start."""
    if level.bit_count() <= SMALL_LEVEL:
        found = [Suggestion(i, free, _value(tentative_count, i)) for i in _indices(level)]
        found.sort(key=lambda s: (-s.tentative, s.index))
        return found[:limit]
    out: list[Suggestion] = []
    for tentative in range(most, -1, -1):
        bits = level & _equal(tentative_count, tentative, everyone)
        while bits and len(out) < limit:
            low = bits & -bits
            out.append(Suggestion(low.bit_length() - 1, free, tentative))
            bits ^= low
        if len(out) >= limit:
            break
    return out


def confidence(free: int, tentative: int, counted: int) -> int:
    """floor(100 * (free + tentative / 2) / counted), in integers."""
    return (200 * free + 100 * tentative) // (2 * counted)


def empty_reason(given: int, matched: int, organizer: States | None) -> str:
    """Why there is no suggestion (contract 10's order of reasons)."""
    if given and not matched:
        return NOT_FOUND
    if organizer is not None and not organizer.free:
        return ORGANIZER_UNAVAILABLE
    return ATTENDEES_UNAVAILABLE
