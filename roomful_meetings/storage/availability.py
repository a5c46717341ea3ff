"""Availability bitmaps, and the inputs of slot searches (one pipelined read when cached)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import trio

from roomful_meetings.domain.availability import DaySetting, UserAvailability
from roomful_meetings.domain.bitmaps import from_bytes
from roomful_meetings.domain.meetings import MAX_MEETING_MINUTES
from roomful_meetings.storage.base import ScriptArg, Store
from roomful_meetings.storage.redis import Command
from roomful_meetings.storage.series import SeriesStore, busy_members

# An explicit day setting is kept this long after the day has passed.
DAY_RETENTION_DAYS = 35
# Decoded patterns and days kept per (user, window), checked against the user's version.
CACHE_ENTRIES: Final = 4096
# A window ending before now minus this may hold days that expired since they were cached
# (expiry does not change the version), so such windows are always read afresh.
CACHE_SAFE_MINUTES: Final = (DAY_RETENTION_DAYS - 5) * 1440

CacheKey = tuple[str, int, int | None]
UnionKey = tuple[tuple[tuple[str, bytes], ...], int, int | None]  # ((user, busy version), ...), window


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    time_zone: str  # IANA name to store on the profile, or ""
    offset_zone: str  # fixed offset to remember when the user has no timeZone, or ""


@dataclass(frozen=True, slots=True)
class Bitmaps:
    """A user's decoded pattern and explicit days for one window, at one version."""

    version: bytes
    pattern: dict[int, int]
    explicit: dict[date, DaySetting]


@dataclass(frozen=True, slots=True)
class Busy:
    """A user's busy index entries that may overlap one window, at one version."""

    version: bytes
    members: list[bytes]  # "<meetingId>:<start>:<end>", epoch minutes


def remember(cache: OrderedDict[Any, Any], key: Hashable, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > CACHE_ENTRIES:
        cache.popitem(last=False)


class AvailabilityStore(Store):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Least recently used first; each bounded by CACHE_ENTRIES.
        self._bitmaps: OrderedDict[CacheKey, Bitmaps] = OrderedDict()
        self._busy: OrderedDict[CacheKey, Busy] = OrderedDict()
        self._unions: OrderedDict[UnionKey, list[int]] = OrderedDict()
        self.series = SeriesStore(self.redis, self.scripts, self.keys)

    def forget_cached(self, *, bitmaps: bool = True) -> None:
        """Drop cached busy indexes (and bitmaps unless told not to): for benchmarks."""
        self._busy.clear()
        self._unions.clear()
        if bitmaps:
            self._bitmaps.clear()

    async def set_pattern(self, user_id: str, zone: ZoneRecord, weekdays: dict[int, bytes]) -> None:
        args: list[ScriptArg] = [zone.time_zone, zone.offset_zone, "pattern"]
        for weekday, bitmap in sorted(weekdays.items()):
            args += [weekday, bitmap]
        await self.run("set_availability", self._keys(user_id), args)

    async def set_day(
        self, user_id: str, zone: ZoneRecord, day: date, day_start: int, day_end: int, bitmap: bytes
    ) -> None:
        expire_at_ms = (day_end + DAY_RETENTION_DAYS * 1440) * 60_000
        args: list[ScriptArg] = [
            zone.time_zone,
            zone.offset_zone,
            "day",
            self.keys.user_day(user_id, day.isoformat()),
            day_start,
            bitmap,
            expire_at_ms,
        ]
        await self.run("set_availability", self._keys(user_id), args)

    def _keys(self, user_id: str) -> list[str]:
        return [self.keys.user(user_id), self.keys.user_pattern(user_id), self.keys.user_days(user_id)]

    async def inputs(
        self,
        user_ids: list[str],
        start: int,
        end: int | None,
        *,
        default_zone: str,
    ) -> tuple[dict[str, UserAvailability], list[int]]:
        """The zone, pattern and explicit days of each existing user (unknown ones are left
        out), and the busy meetings of all of them together (flat
        [start, end, start, end, ...], each meeting once) for [start, end).

        One pipelined read gets every user's zone and the versions of their availability
        and busy index; what is cached at those versions is used as it is, and only what
        moved on is read again (read_availability.lua, and a range read of the busy index),
        both in one more round trip. A pipeline beats one script here: Redis's Lua pays
        for every reply it converts, and most searches repeat the people and the window.
        """
        uids = list(dict.fromkeys(user_ids))
        if not uids:
            return {}, []
        commands: list[Command] = [("HMGET", self.keys.busy_versions(), *uids)]
        for uid in uids:
            user_key = self.keys.user(uid)
            commands += [("EXISTS", user_key), ("HMGET", user_key, "timeZone", "offsetZone", "availVersion")]
        busy_versions, *replies = await self.pipeline(commands)
        cacheable = end is None or end > time.time() // 60 - CACHE_SAFE_MINUTES
        zones: dict[str, str] = {}
        found: dict[str, Bitmaps] = {}
        stale_bitmaps: list[str] = []
        busy: dict[str, Busy] = {}
        stale_busy: list[tuple[str, bytes]] = []
        for index, uid in enumerate(uids):
            exists, (time_zone, offset_zone, version) = replies[2 * index : 2 * index + 2]
            if not exists:
                continue
            zones[uid] = (time_zone or offset_zone or b"").decode() or default_zone
            key = (uid, start, end)
            bitmaps = self._bitmaps.get(key) if cacheable else None
            if bitmaps is not None and bitmaps.version == (version or b"0"):
                self._bitmaps.move_to_end(key)
                found[uid] = bitmaps
            else:
                stale_bitmaps.append(uid)
            busy_version = busy_versions[index] or b"0"
            cached_busy = self._busy.get(key)
            if cached_busy is not None and cached_busy.version == busy_version:
                self._busy.move_to_end(key)
                busy[uid] = cached_busy
            else:
                stale_busy.append((uid, busy_version))
        if stale_bitmaps or stale_busy:
            async with trio.open_nursery() as nursery:  # both go down the same pipeline
                if stale_bitmaps:
                    nursery.start_soon(self._read_bitmaps, stale_bitmaps, start, end, found)
                if stale_busy:
                    nursery.start_soon(self._read_busy, stale_busy, start, end, busy)
        users = {
            uid: UserAvailability(zone=zones[uid], pattern=found[uid].pattern, explicit=found[uid].explicit)
            for uid in zones
            if uid in found  # deleted between the two reads
        }
        return users, self._busy_union(busy, start, end)

    def _busy_union(self, busy: dict[str, Busy], start: int, end: int | None) -> list[int]:
        """Every meeting of these busy entries once, flat [start, end, ...] ordered by start
        (shared with the cache: callers read it, never change it);
        remembered by the entries' versions, since searches repeat the same people (with
        series, the union of 50 people's ~70 entries each cost ~0.5 ms a search)."""
        key = (tuple((uid, entry.version) for uid, entry in busy.items()), start, end)
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
        pairs.sort()
        flat = [minute for pair in pairs for minute in pair]
        remember(self._unions, key, flat)
        return flat

    async def _read_bitmaps(
        self, uids: list[str], start: int, end: int | None, out: dict[str, Bitmaps]
    ) -> None:
        """Pattern and days of these users, decoded and remembered under their version."""
        replies = await self.run("read_availability", [], [start, "inf" if end is None else end, *uids])
        for raw_uid, version, pattern, days in replies:
            uid = raw_uid.decode()
            day_key_start = len(self.keys.user(uid)) + len(":day:")
            out[uid] = bitmaps = Bitmaps(
                version=version,
                pattern={int(pattern[i]): from_bytes(pattern[i + 1]) for i in range(0, len(pattern), 2)},
                explicit={
                    date.fromisoformat(days[i][day_key_start:].decode()): DaySetting.decode(days[i + 1])
                    for i in range(0, len(days), 2)
                },
            )
            remember(self._bitmaps, (uid, start, end), bitmaps)

    async def series_members(
        self, uids: list[str], start: int, end: int, out: dict[str, list[bytes]]
    ) -> None:
        """Busy members of the users' series instances in the window (storage/series.py);
        counted in with the busy index entries, and cached with them by busy version."""
        by_user, states = await self.series.busy_states(uids, start, end)
        out.update((uid, busy_members(states, sids, uid, start, end)) for uid, sids in by_user.items())

    async def _read_busy(
        self, stale: list[tuple[str, bytes]], start: int, end: int | None, out: dict[str, Busy]
    ) -> None:
        """Busy index entries that may overlap the window: members "<meetingId>:<start>:<end>"
        with start in [start - longest meeting, end). A range read, not a script: the
        version was read first, so a change racing this read only makes the entry stale."""
        upper = "+inf" if end is None else f"({end}"
        lower = start - MAX_MEETING_MINUTES
        commands: list[Command] = [
            ("ZRANGEBYSCORE", self.keys.user_busy(uid), lower, upper) for uid, _ in stale
        ]
        series: dict[str, list[bytes]] = {}
        async with trio.open_nursery() as nursery:  # the series read goes alongside
            if end is not None:
                nursery.start_soon(self.series_members, [uid for uid, _ in stale], start, end, series)
            replies = await self.pipeline(commands)
        for (uid, version), members in zip(stale, replies, strict=True):
            out[uid] = entry = Busy(version, members + series.get(uid, []))
            remember(self._busy, (uid, start, end), entry)
