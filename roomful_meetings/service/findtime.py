"""meeting:findMeetingTimes (contract 10): ranked times for a meeting, revealing no one's
meetings, only one of four words per person and candidate.

Theory of operation. A search first reads the head of every person asked
(storage/availability.py `heads`: the zone on their profile and the versions of their
availability and busy index; one pipelined read, 1 + 1 per person commands). All that
follows is a function of the request, the current minute and those heads, so this
instance remembers it keyed by them (service/findcache.py), and a change made through any
instance moves a version and so misses:

- the encoded reply, per (search, every counted person's head): a search that repeats
  costs its head read, one key and one lookup;
- each person's states (domain/findtime.py), per (person, head, search shape): when some
  calendars changed since, only those people's entries and availability are read (the
  storage's `entries`, given the heads already read) and their states computed; then all
  are ranked again and the reply assembled from per-person JSON fragments (one per word)
  picked by the states' codes, rather than encoded Struct by Struct.

Windows that `cacheable` refuses (ending over a month ago: expired days do not move the
availability version) are computed afresh and not remembered.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import lru_cache
from typing import Final, NamedTuple

import msgspec

from roomful_meetings.domain import findtime as rules
from roomful_meetings.domain.availability import window_bits
from roomful_meetings.domain.busy import Entries, Instances, shared_series, touched_by_all
from roomful_meetings.domain.time import to_minute
from roomful_meetings.domain.zones import days_between, offset_table
from roomful_meetings.errors import BadRequest, NotFound, Unavailable
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.envelope import encode
from roomful_meetings.protocol.replies import AttendeeAvailability, RawMeetingTimesReply, RawTimeSuggestion
from roomful_meetings.service.availability import caller_zone, callers_own, now_minute
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.registry import Routes
from roomful_meetings.storage.availability import Head, cacheable
from roomful_meetings.storage.budget import ExpansionBudget

routes = Routes()  # this module's endpoints (service/endpoints.py lists the tables)

MAX_WINDOW_DAYS = 62
# Searches again from the head read when someone counted was deleted in between.
ATTEMPTS: Final = 3
EMPTY_LIST: Final = msgspec.Raw(b"[]")
NO_ENTRIES: Final = Entries()


def window(data: p.FindMeetingTimes) -> tuple[int, int]:
    start, end = to_minute(data.startDate, "data.startDate"), to_minute(data.endDate, "data.endDate")
    if end <= start:
        raise BadRequest("`data.endDate` must be after `data.startDate`")
    if end - start > MAX_WINDOW_DAYS * 1440:
        raise BadRequest(
            f"the window from `data.startDate` to `data.endDate` may span at most {MAX_WINDOW_DAYS} days"
        )
    return start, end


async def attendee_ids(
    services: Services, caller: Caller, data: p.FindMeetingTimes
) -> tuple[list[tuple[str, bool]], int]:
    """(user id, required) of each attendee entry, in request order, by `roomful` id else
    `email`; entries matching no email or with a `roomful` no id can have, repeats and the
    organizer are left out (ids of no user drop out when their profiles are read). And how
    many entries may turn out to match no one: none once one names the organizer, who is a
    user (contract 10: `attendeesNotFound` only when none matched a user).

    Raises:
        BadRequest: more entries than `--max-slot-users` besides those naming the organizer,
            counted as sent (repeats and unknown users included, as in the slot search).
    """
    limit = services.settings.max_slot_users
    others = sum(a.roomful != caller.user_id for a in data.attendees)
    # Before any read: one entry more, which may name the organizer by email.
    if others > limit + 1:
        raise BadRequest(f"`data.attendees` may hold at most {limit} entries besides the organizer")
    emails = [a.email for a in data.attendees if not a.roomful and a.email]
    by_email = iter(await services.catalog.user_ids_by_email(emails) if emails else [])
    out: list[tuple[str, bool]] = []
    seen = {caller.user_id}
    named_self = False
    for attendee in data.attendees:
        uid = attendee.roomful or (next(by_email) if not attendee.roomful and attendee.email else None)
        if uid == caller.user_id and not attendee.roomful:
            others -= 1  # named by email: known now
        named_self |= uid == caller.user_id
        if uid and uid not in seen and p.is_id(uid):
            seen.add(uid)
            out.append((uid, attendee.type == "required"))
    if others > limit:  # the organizer not included (contract 10)
        raise BadRequest(
            f"`data.attendees` may hold at most {limit} entries besides the organizer, got {others}"
        )
    return out, 0 if named_self else len(data.attendees)


class Search(NamedTuple):
    """What a reply depends on besides the people and their heads (a tuple: it is hashed
    and compared, at C speed, in every reply cache lookup)."""

    zone: str  # the caller's: candidates, offsets, and the zone of people without one
    start: int
    end: int
    first: int  # no candidate starts before: max(start, now + minimumNotice)
    duration: int
    step: int
    before: int
    after: int
    percentage: int
    limit: int
    organizer_optional: bool
    given: int  # attendee entries that may match no one (0 once one names the organizer)

    def shape(self) -> tuple[object, ...]:
        """What one person's states depend on besides their head: the fields up to `after`."""
        return self[:8]


@routes.endpoint(
    "meeting:findMeetingTimes",
    p.FindMeetingTimes,
    "Ranked times for a meeting with required and optional attendees",
)
async def find_meeting_times(
    services: Services, caller: Caller, data: p.FindMeetingTimes
) -> RawMeetingTimesReply:
    start, end = window(data)
    zone = await caller_zone(services, caller, data.timeZone, data.startDate)
    attendees, given = await attendee_ids(services, caller, data)
    search = Search(
        zone,
        start,
        end,
        max(start, now_minute() + data.minimumNotice),
        data.duration,
        data.step,
        data.bufferBefore,
        data.bufferAfter,
        data.minimumAttendeePercentage,
        data.maxCandidates,
        data.isOrganizerOptional,
        given,
    )
    for _ in range(ATTEMPTS):
        reply = await find(services, caller.user_id, attendees, search)
        if reply is not None:
            return reply
    raise Unavailable("attendees kept being deleted during the search; try again")


async def find(
    services: Services, organizer: str, attendees: list[tuple[str, bool]], search: Search
) -> RawMeetingTimesReply | None:
    """The reply, from cache when every counted person's head is as last time; None when
    someone counted was deleted after their head was read (then search again)."""
    heads = await services.availability.heads([organizer] + [uid for uid, _ in attendees])
    matched = [(uid, required) for uid, required in attendees if uid in heads]
    if search.given and not matched:
        return RawMeetingTimesReply(EMPTY_LIST, rules.NOT_FOUND)
    if organizer not in heads and not search.organizer_optional:
        # Erased (admin:deleteUser) while connected; the next connection makes it again.
        raise NotFound(f"user {organizer} is not in the directory (erased): reconnect to search as them")
    counted = ([] if search.organizer_optional else [(organizer, True)]) + matched
    if not counted:
        return RawMeetingTimesReply(EMPTY_LIST, rules.ATTENDEES_UNAVAILABLE)
    remember = cacheable(search.end + search.after)
    # Versions count per tenant, and the cache is the instance's: the tenant's scope is in the key.
    key = (services.keys.scope, search, tuple(counted), tuple([heads[uid] for uid, _ in counted]))
    cached = services.searches.replies.get(key) if remember else None
    if cached is not None:
        return cached
    grid = candidates(search.zone, search.start, search.end, search.duration, search.step, search.first)
    states = await people_states(services, organizer, search, grid, counted, heads, remember)
    if len(states) < len(counted):
        return None
    reply = answer(search, grid, counted, [states[uid] for uid, _ in counted], len(matched))
    if remember:
        services.searches.replies.put(key, reply)
    return reply


@lru_cache(maxsize=16)  # a grid of 62 days at step 5 holds 17,856 starts
def candidates(zone: str, start: int, end: int, duration: int, step: int, first: int) -> rules.Grid:
    return rules.candidate_starts(days_between(zone, start, end), start, end, duration, step, first)


async def people_states(
    services: Services,
    organizer: str,
    search: Search,
    grid: rules.Grid,
    counted: list[tuple[str, bool]],
    heads: dict[str, Head],
    remember: bool,
) -> dict[str, rules.States]:
    """Each counted person's states: remembered ones as they are, the others from a read
    of just those people (at the heads read: no second head read). People deleted since
    their head was read are left out. The organizer's settings are read in the search's
    zone, as in every search of the caller's own (service/availability.py callers_own)."""
    shape = search.shape()
    cache = services.searches.people
    scope = services.keys.scope
    keys: dict[str, Hashable] = {uid: (scope, uid, heads[uid], shape) for uid, _ in counted}
    out: dict[str, rules.States] = {}
    stale: dict[str, bool] = {}
    for uid, required in counted:
        found = cache.get(keys[uid]) if remember else None
        if found is None:
            stale[uid] = required
        else:
            out[uid] = found
    if not stale:
        return out
    start, end = search.start, search.end
    budget = ExpansionBudget(
        services.settings.max_expanded_instances,
        "ask for a shorter window (startDate to endDate) or fewer attendees",
    )
    users, entries = await services.availability.entries(
        list(stale),
        start - search.before,
        end + search.after,
        default_zone=search.zone,
        heads=heads,
        budget=budget,
    )
    shared: dict[Instances, int] = {}  # each series' candidates, worked out once for everyone
    for series in shared_series(entry for _, entry in entries.values()):
        shared[series] = touched_by_all(series, grid.starts, search.duration, search.before, search.after)
        await budget.step(len(series) + 1)
    for uid, required in stale.items():
        if uid not in users:
            continue
        own = entries[uid][1] if uid in entries else NO_ENTRIES
        await budget.step(own.cost(shared))
        person = rules.Person(
            uid,
            required,
            own,
            window_bits(callers_own(users, uid, search.zone) if uid == organizer else users[uid], start, end),
            start,
            end - start,
        )
        out[uid] = states = rules.person_states(
            person, grid, search.duration, search.before, search.after, shared
        )
        if remember:
            cache.put(keys[uid], states)
    return out


@lru_cache(maxsize=8192)
def fragments(user_id: str) -> tuple[bytes, ...]:
    """One person's encoded attendee object for each word, in the order of rules.WORDS."""
    return tuple(encode(AttendeeAvailability(user_id, word)) for word in rules.WORDS)


def answer(
    search: Search,
    grid: rules.Grid,
    counted: list[tuple[str, bool]],
    states: list[rules.States],
    matched: int,
) -> RawMeetingTimesReply:
    """The reply from each counted person's states: ranked, then each chosen candidate's
    attendees joined from the people's fragments at their codes there (C-level indexing,
    where encoding 20 x 51 Structs took most of a reply's time)."""
    chosen = rules.rank(states, [r for _, r in counted], len(grid.starts), search.percentage, search.limit)
    if not chosen:
        organizer = None if search.organizer_optional else states[0]
        return RawMeetingTimesReply(EMPTY_LIST, rules.empty_reason(search.given, matched, organizer))
    table = offset_table(search.zone, search.start, search.end)
    people = [fragments(uid) for uid, _ in counted]
    # Everyone's codes end to end: a candidate's column (one code per person) is a slice.
    codes, count = b"".join(person.codes for person in states), len(grid.starts)
    arrays: dict[bytes, msgspec.Raw] = {}  # suggestions often share a column (everyone free)
    suggestions = []
    for s in chosen:
        column = codes[s.index :: count]
        attendees = arrays.get(column)
        if attendees is None:
            attendees = arrays[column] = msgspec.Raw(
                b"[%b]" % b",".join(map(tuple.__getitem__, people, column))
            )
        start = grid.starts[s.index]
        suggestions.append(
            RawTimeSuggestion(
                startDate=table.format(start),
                endDate=table.format(start + search.duration),
                confidence=rules.confidence(s.free, s.tentative, len(counted)),
                attendees=attendees,
            )
        )
    return RawMeetingTimesReply(msgspec.Raw(encode(suggestions)), "")
