"""Changes to series and instances (contract 9): series-wide, one instance, "following".

Each change is prepared from a read of the series at one version (does the instance exist,
what the event's instance looks like, the two halves of a split) and written by one script
that refuses if the series moved on meanwhile (storage/series.py compare_and_set); a
repeated request gets its first answer.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import msgspec

from roomful_meetings.domain import instances as inst
from roomful_meetings.domain import meetings as rules
from roomful_meetings.domain.recurrence import (
    Series,
    check_series,
    going_on,
    occurrences_from,
    starts_between,
)
from roomful_meetings.domain.rrule import Rule, parse_rule
from roomful_meetings.domain.time import format_ms_utc, format_utc, to_minute
from roomful_meetings.errors import BadRequest, NotFound
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.series import instance_state, series_fields, series_zone
from roomful_meetings.service.updates import field_values, given, new_participants
from roomful_meetings.storage.series import compare_and_set, stored_meeting


class _Times(msgspec.Struct):
    startDate: str
    endDate: str


_times_decoder = msgspec.json.Decoder(_Times)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_text() -> str:
    """Now as the scripts write `updated` (RFC 3339 UTC with milliseconds)."""
    return format_ms_utc(int(time.time() * 1000))


def new_times(data: p.UpdateMeeting, start: int, end: int) -> tuple[int, int]:
    new_start = to_minute(data.startDate, "data.startDate") if given(data.startDate) else start  # type: ignore[arg-type]
    new_end = to_minute(data.endDate, "data.endDate") if given(data.endDate) else end  # type: ignore[arg-type]
    rules.check_span(new_start, new_end)
    return new_start, new_end


async def rule_and_zone(
    services: Services, caller: Caller, data: p.UpdateMeeting, rule: Rule | None, zone: str | None
) -> tuple[Rule, str]:
    if isinstance(data.recurrence, p.RecurrenceIn):
        new_rule = parse_rule(data.recurrence.rule)
        if data.recurrence.timeZone is not None or zone is None:
            zone = await series_zone(services, caller, data.recurrence, "data")
        return new_rule, zone
    assert rule is not None and zone is not None
    return rule, zone


async def update_series(services: Services, caller: Caller, data: p.UpdateMeeting, sid: str) -> msgspec.Raw:
    """A change of the whole series (or a single meeting becoming one)."""
    store = services.meetings.series
    values = {f"j:{k}": v for k, v in field_values(data).items()}
    participants = new_participants(services, caller, data)
    limit = services.settings.max_invitees

    async def attempt() -> msgspec.Raw:
        try:
            obj, state = await store.get(sid, caller.user_id)
            rules.check_with_direct_partner(obj, participants, limit)
            old: Series | None = state.series
            version, overrides = state.version, state.overrides
        except NotFound:
            if not isinstance(data.recurrence, p.RecurrenceIn):
                raise
            raw = await services.meetings.get(sid, caller.user_id)
            rules.check_with_direct_partner(msgspec.json.decode(raw), participants, limit)
            single = _times_decoder.decode(raw)
            start0, end0 = (
                to_minute(_iso(single.startDate), "startDate"),
                to_minute(_iso(single.endDate), "endDate"),
            )
            # Compared by the script as a series' version is: a time changed meanwhile is
            # read again, not overwritten by the times read here.
            old, version, overrides = None, f"single:{start0}:{end0}", {}
        if old is not None:
            start0, end0 = old.start, old.start + old.length
        start, end = new_times(data, start0, end0)
        rule, zone = await rule_and_zone(
            services, caller, data, old.rule if old else None, old.zone if old else None
        )
        series = going_on(old, start0, rule, zone, start, end - start)
        check_series(series)
        reset = old is None or not inst.keeps_own_changes(old, old.start, old.rule, series)
        fields = {**values, **series_fields(series, {} if reset else dict(overrides))}
        fields.update(
            {"start": start, "end": end, "j:startDate": format_utc(start), "j:endDate": format_utc(end)}
        )
        return await store.update(
            sid,
            caller.user_id,
            version,
            participants=participants,
            reset=reset,
            values=fields,
            write=caller.write,
        )

    return await compare_and_set(store, caller.write, attempt, stored_meeting)


def _no_answer(stored: list[Any]) -> None:
    return None


def check_instance_change(data: p.UpdateMeeting) -> None:
    """What a change of one instance may not touch (400)."""
    for name, value in (("invitedUserIds", data.invitedUserIds), ("recurrence", data.recurrence)):
        if given(value):
            raise BadRequest(f"`data.{name}` cannot be changed on one instance; change the series")


async def update_instance(services: Services, caller: Caller, data: p.UpdateMeeting) -> msgspec.Raw:
    """Override one instance's fields or times (it keeps its id)."""
    check_instance_change(data)
    values = field_values(data)

    async def attempt() -> msgspec.Raw:
        obj, state, orig = await instance_state(services, caller, data.meetingId)
        now_start, now_end = inst.times(state, orig)
        start, end = new_times(data, now_start, now_end)
        own = dict(state.overrides.get(orig, {}))
        own.update(values)
        moved = (start, end) != (now_start, now_end)
        if moved:
            own.update(start=start, end=end)
        own["updated"] = now_text()
        overrides = {**state.overrides, orig: own}
        statuses = dict(state.instance_statuses)
        if moved:
            statuses.update({(orig, uid): "received" for uid in state.pids[1:]})
        after = replace(state, overrides=overrides, instance_statuses=statuses)
        instance = inst.instance_object(obj, after, orig)
        event = msgspec.json.encode(instance)
        await services.meetings.series.change_instance(
            state,
            caller.user_id,
            "override",
            orig,
            data.meetingId,
            own=own,
            times_changed=moved,
            event_json=event,
            bounds=inst.bounds(state.series, overrides),
            write=caller.write,
        )
        return msgspec.Raw(event)

    return await compare_and_set(services.meetings.series, caller.write, attempt, stored_meeting)


async def cancel_instance(services: Services, caller: Caller, meeting_id: str) -> None:
    async def attempt() -> None:
        _, state, orig = await instance_state(services, caller, meeting_id)
        rest = {o: v for o, v in state.overrides.items() if o != orig}
        await services.meetings.series.change_instance(
            state,
            caller.user_id,
            "cancel",
            orig,
            meeting_id,
            bounds=inst.bounds(state.series, rest),
            write=caller.write,
        )

    await compare_and_set(services.meetings.series, caller.write, attempt, _no_answer)


async def rsvp_instance(services: Services, caller: Caller, meeting_id: str, status: str) -> None:
    async def attempt() -> None:
        # Only this instance's fields: an answer moves nothing, so the series' bounds stay.
        obj, state, orig = await instance_state(services, caller, meeting_id, whole=False)
        overrides, own = state.overrides, None
        if inst.status(state, orig, caller.user_id) != status:  # a change the instance shows
            own = {**state.overrides.get(orig, {}), "updated": now_text()}
            overrides = {**overrides, orig: own}
        statuses = {**state.instance_statuses, (orig, caller.user_id): status}
        after = replace(state, overrides=overrides, instance_statuses=statuses)
        await services.meetings.series.change_instance(
            state,
            caller.user_id,
            status,
            orig,
            meeting_id,
            own=own,
            event_json=msgspec.json.encode(inst.instance_object(obj, after, orig)),
            bounds=None,
            write=caller.write,
        )

    await compare_and_set(services.meetings.series, caller.write, attempt, _no_answer)


def _ended_before(series: Series, orig: int) -> Rule:
    """The series' rule cut so that its last occurrence is the one before `orig`."""
    if series.rule.count is not None:
        return replace(series.rule, count=len(starts_between(series, series.start, orig)))
    return replace(series.rule, until=orig - 1)


def going_on_rule(series: Series, orig: int) -> Rule:
    """The rule of the series that goes on from occurrence `orig` (a split's new one):
    what is left of a COUNT, else the same rule."""
    if series.rule.count is None or orig == series.start:
        return series.rule
    return replace(series.rule, count=occurrences_from(series, orig))


def _later(state: inst.SeriesState, orig: int) -> dict[str, str]:
    """The instance hash entries of the instances from `orig` on."""
    out: dict[str, str] = {}
    for o, own in state.overrides.items():
        if o >= orig:
            out[f"o:{o}"] = msgspec.json.encode(own).decode()
    out.update({f"c:{o}": "1" for o in state.cancelled if o >= orig})
    out.update({f"s:{o}:{uid}": s for (o, uid), s in state.instance_statuses.items() if o >= orig})
    return out


async def update_following(services: Services, caller: Caller, data: p.UpdateMeeting) -> msgspec.Raw:
    """scope "following" in updateMeeting: the new series (or the whole one, changed)."""
    changed = await split(services, caller, data, data.meetingId)
    assert changed is not None  # with changes, a split always answers a series
    return changed


async def delete_following(services: Services, caller: Caller, meeting_id: str) -> None:
    """scope "following" in deleteMeeting: end the series before this instance."""
    await split(services, caller, None, meeting_id)


async def split(
    services: Services, caller: Caller, data: p.UpdateMeeting | None, meeting_id: str
) -> msgspec.Raw | None:
    """scope "following": end the series before this instance and, for an update (`data`),
    start a new series there with the changes. From the first instance on, that is the
    whole series."""
    store = services.meetings.series
    new_id = secrets.token_hex(16) if data is not None else ""
    values = {f"j:{k}": v for k, v in field_values(data).items()} if data is not None else {}
    participants = new_participants(services, caller, data) if data is not None else None

    async def attempt() -> msgspec.Raw | None:
        obj, state, orig = await instance_state(services, caller, meeting_id)
        rules.check_with_direct_partner(obj, participants, services.settings.max_invitees)
        series = state.series
        if orig == series.start:
            if data is None:
                await services.meetings.delete(state.sid, caller.user_id, write=caller.write)
                return None
            return await update_series(
                services, caller, msgspec.structs.replace(data, meetingId=state.sid), state.sid
            )
        old = replace(series, rule=_ended_before(series, orig))
        kept = {o: v for o, v in state.overrides.items() if o < orig}
        later = _later(state, orig)
        old_values = {
            k: v for k, v in series_fields(old, kept).items() if k in ("rule", "lo", "hi", "j:recurrence")
        }
        new_values: dict[str, object] = {}
        reset = False
        if data is not None:
            base = going_on_rule(series, orig)
            start, end = new_times(data, orig, orig + series.length)
            rule, zone = await rule_and_zone(services, caller, data, base, series.zone)
            new = going_on(series, orig, rule, zone, start, end - start)
            check_series(new)
            reset = not inst.keeps_own_changes(series, orig, base, new)
            moved = {} if reset else {o: v for o, v in state.overrides.items() if o >= orig}
            now = now_text()
            new_values = {
                **values,
                **series_fields(new, moved),
                "start": start,
                "end": end,
                "j:startDate": format_utc(start),
                "j:endDate": format_utc(end),
                "j:meetingId": new_id,
                "j:created": now,
                "j:updated": now,
            }
        return await store.split(
            state,
            caller.user_id,
            new_id,
            old_values=old_values,
            dropped=list(later),
            participants=participants,
            reset=reset,
            moved={} if reset else later,
            new_values=new_values,
            write=caller.write,
        )

    return await compare_and_set(
        store, caller.write, attempt, lambda stored: stored_meeting(stored) if stored[1] else None
    )
