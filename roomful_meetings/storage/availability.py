"""Availability bitmaps, and the inputs of slot searches (one pipelined read when cached)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any, Final, NamedTuple

from roomful_meetings.domain.availability import DaySetting, UserAvailability
from roomful_meetings.domain.bitmaps import from_bytes
from roomful_meetings.domain.busy import BLOCKING, Entries, Entry, Instances, SeriesEntries, level
from roomful_meetings.domain.meetings import MAX_MEETING_MINUTES
from roomful_meetings.domain.zones import stored_zone
from roomful_meetings.storage.base import NO_WRITE, ScriptArg, Store, Write
from roomful_meetings.storage.budget import ExpansionBudget
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Command, Redis, Script
from roomful_meetings.storage.redis.inline import side_by_side
from roomful_meetings.storage.series import SeriesStore, person_entries, series_window

# An explicit day setting is kept this long after the day has passed.
DAY_RETENTION_DAYS = 35
# Decoded patterns and days kept per (user, window), checked against the user's version.
CACHE_ENTRIES: Final = 4096
# A window ending before now minus this may hold days that expired since they were cached
# (expiry does not change the version), so such windows are always read afresh.
CACHE_SAFE_MINUTES: Final = (DAY_RETENTION_DAYS - 5) * 1440

CacheKey = tuple[str, str, int, int | None]  # (tenant scope, user, window start, window end)
# (tenant scope, ((user, busy version), ...), window start, window end)
UnionKey = tuple[str, tuple[tuple[str, bytes], ...], int, int | None]


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    time_zone: str  # IANA name to store on the profile, or ""
    offset_zone: str  # fixed offset to remember when the user has no timeZone, or ""


class Head(NamedTuple):
    """What the first read of a search tells of one existing user: the zone on their
    profile and the versions that every cached part of their calendar is checked against.
    Equal heads mean equal inputs (for a window that `cacheable` allows). A tuple, so that
    cache keys holding many of them hash at C speed."""

    zone: str  # the profile's timeZone (as stored_zone reads it), else its offsetZone, else ""
    availability: bytes  # availVersion (set_availability.lua), b"0" if never set
    busy: bytes  # the busy version (every meeting, series and RSVP change of theirs moves it)


def cacheable(end: int | None) -> bool:
    """Whether what is cached for a window ending at `end` may be used (see CACHE_SAFE_MINUTES)."""
    return end is None or end > time.time() // 60 - CACHE_SAFE_MINUTES


@dataclass(frozen=True, slots=True)
class Bitmaps:
    """A user's decoded pattern and explicit days for one window, at one version."""

    version: bytes
    pattern: dict[int, int]
    explicit: dict[date, DaySetting]


@dataclass(frozen=True, slots=True)
class Busy:
    """A user's busy entries that may overlap one window, at one version: the busy index's
    single meetings, and their series' instances a series at a time, levelled."""

    version: bytes
    members: list[bytes]  # "<meetingId>:<start>:<end>", epoch minutes
    series: tuple[SeriesEntries, ...] = ()


def expansion(busy: dict[str, Busy]) -> int:
    """What working out these users' series costs (storage/budget.py): the instances of
    each series once, whoever takes part in it, plus a step per user and series (and per
    instance where the user has statuses of their own)."""
    instances: dict[str, int] = {}
    steps = 0
    for entry in busy.values():
        for series in entry.series:
            instances[series.instances.sid] = len(series.instances) + 1
            steps += 1 + (len(series.instances) if series.own else 0)
    return steps + sum(instances.values())


def remember(cache: OrderedDict[Any, Any], key: Hashable, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > CACHE_ENTRIES:
        cache.popitem(last=False)


@dataclass(frozen=True, slots=True)
class AvailabilityCaches:
    """What the availability stores of one instance keep, least recently used first, each
    bounded by CACHE_ENTRIES: one set for every tenant (keys start with the tenant's scope,
    since versions count per tenant), so memory does not grow with the number of tenants."""

    bitmaps: OrderedDict[CacheKey, Bitmaps] = field(default_factory=OrderedDict)
    busy: OrderedDict[CacheKey, Busy] = field(default_factory=OrderedDict)
    unions: OrderedDict[UnionKey, list[int]] = field(default_factory=OrderedDict)
    levels: OrderedDict[CacheKey, tuple[bytes, Entries]] = field(default_factory=OrderedDict)


class AvailabilityStore(Store):
    def __init__(
        self, redis: Redis, scripts: dict[str, Script], keys: Keys, caches: AvailabilityCaches | None = None
    ) -> None:
        super().__init__(redis, scripts, keys)
        caches = caches or AvailabilityCaches()
        self._bitmaps, self._busy, self._unions, self._levels = (
            caches.bitmaps,
            caches.busy,
            caches.unions,
            caches.levels,
        )
        self.series = SeriesStore(self.redis, self.scripts, self.keys)

    def _key(self, uid: str, start: int, end: int | None) -> CacheKey:
        return (self.keys.scope, uid, start, end)

    def forget_cached(self, *, bitmaps: bool = True) -> None:
        """Drop cached busy indexes (and bitmaps unless told not to): for benchmarks."""
        self._busy.clear()
        self._unions.clear()
        self._levels.clear()
        if bitmaps:
            self._bitmaps.clear()

    async def set_pattern(
        self, user_id: str, zone: ZoneRecord, weekdays: dict[int, bytes], *, write: Write = NO_WRITE
    ) -> None:
        args: list[ScriptArg] = [zone.time_zone, zone.offset_zone, "pattern"]
        for weekday, bitmap in sorted(weekdays.items()):
            args += [weekday, bitmap]
        keys = self._keys(user_id)
        await self.run("set_availability", [*keys, keys[-1]], args, write=write)

    async def set_day(
        self,
        user_id: str,
        zone: ZoneRecord,
        day: date,
        day_start: int,
        day_end: int,
        bitmap: bytes,
        *,
        write: Write = NO_WRITE,
    ) -> None:
        expire_at_ms = (day_end + DAY_RETENTION_DAYS * 1440) * 60_000
        args: list[ScriptArg] = [zone.time_zone, zone.offset_zone, "day", day_start, bitmap, expire_at_ms]
        keys = [*self._keys(user_id), self.keys.user_day(user_id, day.isoformat())]
        await self.run("set_availability", keys, args, write=write)

    def _keys(self, user_id: str) -> list[str]:
        return [self.keys.user(user_id), self.keys.user_pattern(user_id), self.keys.user_days(user_id)]

    async def inputs(
        self,
        user_ids: list[str],
        start: int,
        end: int | None,
        *,
        default_zone: str,
        keep: str | None = None,
        budget: ExpansionBudget | None = None,
    ) -> tuple[dict[str, UserAvailability], list[int]]:
        """The zone, pattern and explicit days of each existing user (unknown ones are left
        out), and the busy meetings of all of them together (flat
        [start, end, start, end, ...], each meeting once) for [start, end).
        Every entry of the busy index blocks a slot (busy.BLOCKING: declined meetings are
        not in it), so the union needs no statuses.

        One pipelined read (`heads`) gets every user's zone and the versions of their
        availability and busy index; what is cached at those versions is used as it is, and only what
        moved on is read again (read_availability.lua, and a range read of the busy index),
        both in one more round trip. A pipeline beats one script here: Redis's Lua pays
        for every reply it converts, and most searches repeat the people and the window.

        `keep`: a user whose busy index is read even without a profile (the caller, erased
        while still connected: the meetings they make meanwhile are theirs). `budget`: of
        the series instances worked out (storage/budget.py).
        """
        budget = budget or ExpansionBudget()
        users, busy = await self._read(
            user_ids, start, end, default_zone=default_zone, keep=keep, budget=budget
        )
        return users, await self._busy_union(busy, start, end, budget)

    async def entries(
        self,
        user_ids: list[str],
        start: int,
        end: int,
        *,
        default_zone: str,
        heads: dict[str, Head] | None = None,
        keep: str | None = None,
        budget: ExpansionBudget | None = None,
    ) -> tuple[dict[str, UserAvailability], dict[str, tuple[bytes, Entries]]]:
        """What `inputs` reads (the same reads and caches), with each user's busy entries
        apart and levelled (domain/busy.py), labelled with the user's busy version: the
        input of findMeetingTimes and of the rejectConflicts check. `heads` from an
        earlier `heads` read of these users saves reading them again; `keep` as in `inputs`."""
        budget = budget or ExpansionBudget()
        users, busy = await self._read(
            user_ids, start, end, default_zone=default_zone, heads=heads, keep=keep, budget=budget
        )
        stale = [uid for uid, entry in busy.items() if self._cached_levels(uid, entry, start, end) is None]
        if stale:
            await self._read_levels(stale, busy, start, end)
        out: dict[str, tuple[bytes, Entries]] = {}
        for uid, entry in busy.items():
            levelled = self._cached_levels(uid, entry, start, end)
            if levelled is not None:
                out[uid] = (entry.version, levelled)
        return users, out

    def _cached_levels(self, uid: str, busy: Busy, start: int, end: int) -> Entries | None:
        cached = self._levels.get(self._key(uid, start, end))
        if cached is None or cached[0] != busy.version:
            return None
        return cached[1]

    async def _read_levels(self, uids: list[str], busy: dict[str, Busy], start: int, end: int) -> None:
        """Each single meeting's organizer and the user's status (one pipelined HMGET per
        meeting); series instances come levelled. Remembered by busy version: every RSVP
        moves it (lua/set_rsvp.lua)."""
        commands: list[Command] = []
        asks: list[tuple[str, str, int, int]] = []
        levelled: dict[str, list[Entry]] = {uid: [] for uid in uids}
        for uid in uids:
            for member in busy[uid].members:
                mid, begins, ends = member.decode().rsplit(":", 2)
                a, b = int(begins), int(ends)
                if b <= start or a >= end:
                    continue
                commands.append(("HMGET", self.keys.meeting(mid), "org", f"s:{uid}"))
                asks.append((uid, mid, a, b))
        replies = await self.pipeline(commands) if commands else []
        for (uid, meeting_id, a, b), (organizer, status) in zip(asks, replies, strict=True):
            state = level(organizer == uid.encode(), (status or b"").decode())
            if state:  # a meeting deleted or declined since the index was read is no entry
                levelled[uid].append(Entry(meeting_id, a, b, state))
        for uid in uids:
            found = Entries(levelled[uid], busy[uid].series)
            remember(self._levels, self._key(uid, start, end), (busy[uid].version, found))

    async def heads(self, user_ids: list[str], *, keep: str | None = None) -> dict[str, Head]:
        """The head of each existing user (unknown ids are left out, but `keep`: no zone,
        no settings, its busy version), in one pipelined read: the busy versions in one
        HMGET, then one HMGET per user hash.

        No EXISTS: a user hash is only ever made by upsert_users.lua (which sets `id`) or
        set_availability.lua (which sets `availVersion`), neither field is removed on its
        own, and delete_user.lua deletes the whole hash; so the hash exists exactly when
        one of the two is there (half the commands of an EXISTS beside each HMGET)."""
        uids = list(dict.fromkeys(user_ids))
        if not uids:
            return {}
        commands: list[Command] = [("HMGET", self.keys.busy_versions(), *uids)]
        commands += [
            ("HMGET", self.keys.user(uid), "timeZone", "offsetZone", "availVersion", "id") for uid in uids
        ]
        busy_versions, *replies = await self.pipeline(commands)
        out: dict[str, Head] = {}
        for uid, busy_version, (time_zone, offset_zone, version, known) in zip(
            uids, busy_versions, replies, strict=True
        ):
            if version is not None or known is not None:
                # A name stored before names were held to the zone database reads as
                # the rest of the product reads it (domain/zones.py stored_zone).
                stored = stored_zone(time_zone.decode()) if time_zone else None
                zone = stored or (offset_zone or b"").decode()
                out[uid] = Head(zone, version or b"0", busy_version or b"0")
            elif uid == keep:
                out[uid] = Head("", b"0", busy_version or b"0")
        return out

    async def _read(
        self,
        user_ids: list[str],
        start: int,
        end: int | None,
        *,
        default_zone: str,
        heads: dict[str, Head] | None = None,
        keep: str | None = None,
        budget: ExpansionBudget,
    ) -> tuple[dict[str, UserAvailability], dict[str, Busy]]:
        uids = list(dict.fromkeys(user_ids))
        if not uids:
            return {}, {}
        if heads is None:
            heads = await self.heads(uids, keep=keep)
        use_cache = cacheable(end)
        zones: dict[str, str] = {}
        found: dict[str, Bitmaps] = {}
        stale_bitmaps: list[str] = []
        busy: dict[str, Busy] = {}
        stale_busy: list[tuple[str, bytes]] = []
        for uid in uids:
            head = heads.get(uid)
            if head is None:
                continue
            zones[uid] = head.zone or default_zone
            key = self._key(uid, start, end)
            bitmaps = self._bitmaps.get(key) if use_cache else None
            if bitmaps is not None and bitmaps.version == head.availability:
                self._bitmaps.move_to_end(key)
                found[uid] = bitmaps
            else:
                stale_bitmaps.append(uid)
            cached_busy = self._busy.get(key)
            if cached_busy is not None and cached_busy.version == head.busy:
                self._busy.move_to_end(key)
                busy[uid] = cached_busy
            else:
                stale_busy.append((uid, head.busy))
        reads: list[Callable[[], Awaitable[None]]] = []  # both go down the same pipeline
        if stale_bitmaps:
            reads.append(partial(self._read_bitmaps, stale_bitmaps, start, end, found))
        if stale_busy:
            reads.append(partial(self._read_busy, stale_busy, start, end, busy, budget))
        await side_by_side(*reads)
        budget.require(expansion(busy))  # however much of it was cached
        users = {
            uid: UserAvailability(zone=zones[uid], pattern=found[uid].pattern, explicit=found[uid].explicit)
            for uid in zones
            if uid in found  # deleted between the two reads
        }
        return users, busy

    async def _busy_union(
        self, busy: dict[str, Busy], start: int, end: int | None, budget: ExpansionBudget
    ) -> list[int]:
        """Every meeting of these busy entries once, flat [start, end, ...] ordered by start
        (shared with the cache: callers read it, never change it);
        remembered by the entries' versions, since searches repeat the same people (with
        series, the union of 50 people's ~70 entries each cost ~0.5 ms a search)."""
        key = (self.keys.scope, tuple((uid, entry.version) for uid, entry in busy.items()), start, end)
        cached = self._unions.get(key)
        if cached is not None:
            self._unions.move_to_end(key)
            return cached
        members: set[bytes] = set()  # a meeting shared by several users counts once
        for entry in busy.values():
            members.update(entry.members)
        pairs: list[tuple[int, int]] = []
        for member in members:
            _, begins, ends = member.split(b":")
            if int(ends) > start:
                pairs.append((int(begins), int(ends)))
        for times in _blocked_times(busy):  # an instance shared by several users counts once
            pairs += times
            await budget.step(len(times))
        pairs.sort()
        flat = [minute for pair in pairs for minute in pair]
        remember(self._unions, key, flat)
        return flat

    async def _read_bitmaps(
        self, uids: list[str], start: int, end: int | None, out: dict[str, Bitmaps]
    ) -> None:
        """Pattern and days of these users, decoded and remembered under their version."""
        keys = [key for uid in uids for key in self._keys(uid)]
        replies = await self.run("read_availability", keys, [start, "inf" if end is None else end, *uids])
        for raw_uid, version, pattern, days in replies:
            uid = raw_uid.decode()
            day_key_start = len(f"{self.keys.user(uid)}:day:".encode())  # bytes: ids need not be ASCII
            out[uid] = bitmaps = Bitmaps(
                version=version,
                pattern={int(pattern[i]): from_bytes(pattern[i + 1]) for i in range(0, len(pattern), 2)},
                explicit={
                    date.fromisoformat(days[i][day_key_start:].decode()): DaySetting.decode(days[i + 1])
                    for i in range(0, len(days), 2)
                },
            )
            remember(self._bitmaps, self._key(uid, start, end), bitmaps)

    async def series_entries(
        self,
        uids: list[str],
        start: int,
        end: int,
        out: dict[str, tuple[SeriesEntries, ...]],
        budget: ExpansionBudget | None = None,
    ) -> None:
        """The users' entries at their series' instances in the window (storage/series.py),
        each series worked out once; cached with the busy index entries by busy version.
        Refused as soon as the series seen so far are over the budget."""
        budget = budget or ExpansionBudget()
        by_user, states = await self.series.busy_states(uids, start, end, budget)
        scope = self.keys.scope
        windows: dict[str, Instances] = {}
        spent = sum(map(len, by_user.values()))  # a step per user and series
        for sids in by_user.values():
            for sid in sids:
                if sid not in windows:
                    windows[sid] = found = series_window(scope, states[sid], start, end)
                    spent += len(found) + 1
                    budget.require(spent)
                    await budget.step(len(found) + 1)
        for uid, sids in by_user.items():
            out[uid] = tuple(person_entries(scope, states[sid], windows[sid], uid) for sid in sids)
            await budget.step(len(sids))

    async def _read_busy(
        self,
        stale: list[tuple[str, bytes]],
        start: int,
        end: int | None,
        out: dict[str, Busy],
        budget: ExpansionBudget,
    ) -> None:
        """Busy index entries that may overlap the window: members "<meetingId>:<start>:<end>"
        with start in [start - longest meeting, end). A range read, not a script: the
        version was read first, so a change racing this read only makes the entry stale."""
        upper = "+inf" if end is None else f"({end}"
        lower = start - MAX_MEETING_MINUTES
        commands: list[Command] = [
            ("ZRANGEBYSCORE", self.keys.user_busy(uid), lower, upper) for uid, _ in stale
        ]
        series: dict[str, tuple[SeriesEntries, ...]] = {}
        replies: list[Any] = []

        async def ranges() -> None:
            replies.extend(await self.pipeline(commands))

        reads: list[Callable[[], Awaitable[None]]] = [ranges]
        if end is not None:  # the series read goes alongside
            reads.append(partial(self.series_entries, [uid for uid, _ in stale], start, end, series, budget))
        await side_by_side(*reads)
        for (uid, version), members in zip(stale, replies, strict=True):
            out[uid] = entry = Busy(version, members, series.get(uid, ()))
            remember(self._busy, self._key(uid, start, end), entry)


def _blocked_times(busy: dict[str, Busy]) -> Iterator[list[tuple[int, int]]]:
    """(start, end) of each series instance at which any of these users is blocked
    (busy.BLOCKING), each instance once, a series at a time. An instance of a series read
    at two versions (two users' entries cached from two reads) counts once unless its
    times differ, as its busy index member did."""
    chosen: dict[Instances, set[int] | None] = {}  # None: every instance blocks someone
    for entry in busy.values():
        for series in entry.series:
            ins = series.instances
            if ins in chosen and chosen[ins] is None:
                continue
            if not series.own and series.level >= BLOCKING:
                chosen[ins] = None
            else:
                blocked = chosen.get(ins) or set()
                blocked.update(i for i, at in series.levels() if at >= BLOCKING)
                chosen[ins] = blocked
    twice = len({ins.sid for ins in chosen}) < len(chosen)
    seen: set[tuple[str, int, int, int]] = set()
    for ins, indexes in chosen.items():
        picked = range(len(ins)) if indexes is None else sorted(indexes)
        if not twice:
            yield [(ins.starts[i], ins.ends[i]) for i in picked]
            continue
        keys = [(ins.sid, ins.origs[i], ins.starts[i], ins.ends[i]) for i in picked]
        yield [(key[2], key[3]) for key in keys if key not in seen]
        seen.update(keys)
