"""Availability bitmaps and the inputs of slot searches, one round trip each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from roomful_meetings.domain.availability import UserAvailability
from roomful_meetings.domain.bitmaps import from_bytes
from roomful_meetings.domain.meetings import MAX_MEETING_MINUTES
from roomful_meetings.storage.base import ScriptArg, Store
from roomful_meetings.storage.catalog import email_key

# An explicit day setting is kept this long after the day has passed.
DAY_RETENTION_DAYS = 35


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    time_zone: str  # IANA name to store on the profile, or ""
    offset_zone: str  # fixed offset to remember when the user has no timeZone, or ""


class AvailabilityStore(Store):
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
        emails: tuple[str, ...] | list[str] = (),
    ) -> tuple[dict[str, UserAvailability], list[int]]:
        """The zone, pattern and explicit days of each existing user (given by id or email;
        unknown ones are left out), and the busy meetings of all of them together (flat
        [start, end, start, end, ...], each meeting once) for [start, end)."""
        wanted = [f"id:{uid}" for uid in user_ids] + [f"email:{email_key(e)}" for e in emails]
        if not wanted:
            return {}, []
        args: list[ScriptArg] = [start, "inf" if end is None else end, MAX_MEETING_MINUTES, *wanted]
        replies = await self.run("availability_inputs", [], args)
        out = {}
        busy: set[bytes] = set()  # a meeting shared by many of the users counts once
        for raw_uid, zone, pattern, days, entries in replies:
            uid = raw_uid.decode()
            busy.update(entries)
            day_key_start = len(self.keys.user(uid)) + len(":day:")
            out[uid] = UserAvailability(
                zone=zone.decode() or default_zone,
                pattern={int(pattern[i]): from_bytes(pattern[i + 1]) for i in range(0, len(pattern), 2)},
                explicit={
                    date.fromisoformat(days[i][day_key_start:].decode()): from_bytes(days[i + 1])
                    for i in range(0, len(days), 2)
                },
            )
        flat: list[int] = []
        for member in busy:
            _, begins, ends = member.split(b":")
            if int(ends) > start:
                flat += (int(begins), int(ends))
        return out, flat
