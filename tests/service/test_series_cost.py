"""Reading many recurring series: what the searches, counts and rejectConflicts read is what
the plain reading of the same series gives (every instance of every series, per person,
one by one, as the readers did before series were worked out a series at a time), and a
request past `--max-expanded-instances` is refused with a 400 that says what to ask
instead, while one under it, or exactly at it, is answered.

The worlds: people in several zones, series of several rules (some crossing a clock change
or midnight), each with statuses of the whole series and of single instances, cancelled
and moved instances, and a few single meetings.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest
import trio

from roomful_meetings.domain import instances as inst
from roomful_meetings.domain.busy import BLOCKING, Entry, is_own, level
from roomful_meetings.domain.recurrence import Series, instance_id, is_occurrence, overlapping, starts_between
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.domain.zones import days_between, local_date_of, local_day
from roomful_meetings.errors import BadRequest
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.budget import AnswerBudget
from roomful_meetings.service import availability, conflicts, dispatch, findtime, series
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.meetings import (
    accept_meeting,
    create_meeting,
    decline_meeting,
    delete_meeting,
    update_meeting,
)
from roomful_meetings.storage import budget as budgets
from roomful_meetings.storage.embedded import RedisProcess
from tests.service.conftest import open_services

ZONES = ("Europe/London", "America/New_York", "Asia/Kolkata", "UTC")
DAY = int(datetime(2031, 3, 24, tzinfo=UTC).timestamp()) // 60  # a Monday; London changes on the 30th
RULES = (
    "FREQ=DAILY",
    "FREQ=DAILY;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY;BYDAY=TU,TH",
    "FREQ=WEEKLY;INTERVAL=2",
    "FREQ=MONTHLY;BYMONTHDAY=1,15,-1",
    "FREQ=DAILY;COUNT=20",
    "FREQ=WEEKLY;BYDAY=MO;UNTIL=20310601T000000Z",
    "FREQ=MONTHLY;BYDAY=-1FR",
)


def utc(minute: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)


async def make(
    services: Services,
    organizer: str,
    start: int,
    length: int,
    invited: list[str],
    rule: str = "",
    zone: str = "",
) -> str:
    """A meeting in the room (a series with `rule` on `zone`'s wall clock); its id."""
    made = await create_meeting(
        services,
        Caller(organizer),
        p.CreateMeeting(
            sourceType="room",
            sourceIds=["room"],
            subject="s",
            startDate=utc(start),
            endDate=utc(start + length),
            invitedUserIds=invited,
            recurrence=p.RecurrenceIn(rule=rule, timeZone=zone) if rule else None,
        ),
    )
    return str(msgspec.json.decode(msgspec.json.encode(made))["meeting"]["meetingId"])


async def build(services: Services, seed: int, people: int = 6, series: int = 10) -> list[str]:
    """A random world (see the module's docstring); the people's ids."""
    rng = random.Random(seed)
    ids = [f"p{i}-{seed}" for i in range(people)]
    await services.catalog.upsert_rooms([p.RoomIn(id="room")])
    await services.catalog.upsert_users(
        [p.UserIn(id=uid, timeZone=ZONES[i % len(ZONES)]) for i, uid in enumerate(ids)]
    )
    for _ in range(series):
        organizer = rng.choice(ids)
        invited = rng.sample([u for u in ids if u != organizer], rng.randint(1, people - 1))
        text, zone = rng.choice(RULES), rng.choice(ZONES)
        length = rng.choice([30, 60, 90, 180])
        candidate = (
            DAY + rng.randint(-20, 5) * 1440 + rng.choice([0, 9 * 60, 23 * 60, 23 * 60 + 30, 1 * 60 + 30])
        )
        rule = parse_rule(text)
        start = starts_between(Series(rule, zone, candidate, length), candidate, candidate + 90 * 1440)[0]
        sid = await make(services, organizer, start, length, invited, text, zone)
        for uid in invited:
            choice = rng.choice(["", "", "accepted", "declined"])
            if choice:
                rsvp = accept_meeting if choice == "accepted" else decline_meeting
                await rsvp(services, Caller(uid), p.MeetingRef(meetingId=sid))
        near = starts_between(Series(rule, zone, start, length), DAY - 3 * 1440, DAY + 30 * 1440)
        for orig in rng.sample(near, min(len(near), 4)):
            iid = instance_id(sid, orig)
            action = rng.choice(["cancel", "move", "rsvp", "rsvp"])
            if action == "cancel":
                await delete_meeting(services, Caller(organizer), p.DeleteMeeting(meetingId=iid))
            elif action == "move":
                shift = rng.choice([-60, 45, 1440 + 30])
                update = p.UpdateMeeting(
                    meetingId=iid, startDate=utc(orig + shift), endDate=utc(orig + shift + length)
                )
                await update_meeting(services, Caller(organizer), update)
            else:
                rsvp = rng.choice([accept_meeting, decline_meeting])
                await rsvp(services, Caller(rng.choice(invited)), p.MeetingRef(meetingId=iid))
    for _ in range(4):  # and a few single meetings
        organizer = rng.choice(ids)
        start = DAY + rng.randint(-2, 20) * 1440 + rng.randint(0, 47) * 30
        await make(services, organizer, start, 60, [u for u in ids if u != organizer][:2])
    return ids


def plain_instances(state: inst.SeriesState, low: int, high: int) -> list[tuple[int, int, int]]:
    """The instances as the readers found them before (the former instances.instances)."""
    out = []
    for orig in overlapping(state.series, low, high):
        if orig not in state.cancelled and orig not in state.overrides:
            out.append((orig, orig, orig + state.series.length))
    for orig in state.overrides:
        start, end = inst.times(state, orig)
        if orig not in state.cancelled and start < high and end > low and is_occurrence(state.series, orig):
            out.append((orig, start, end))
    out.sort(key=lambda item: (item[1], item[0]))
    return out


async def all_states(services: Services, ids: list[str]) -> list[inst.SeriesState]:
    by_user, states = await services.meetings.series.busy_states(ids, 0, 2**40)
    return [states[sid] for sid in sorted({sid for sids in by_user.values() for sid in sids})]


def plain_series_entries(states: list[inst.SeriesState], uid: str, low: int, high: int) -> set[Entry]:
    """Each instance one by one: its id, times, and the person's level from their status."""
    out = set()
    for state in states:
        if uid not in state.pids:
            continue
        for orig, a, b in plain_instances(state, low, high):
            found = level(uid == state.organizer, inst.status(state, orig, uid))
            if found:
                out.add(Entry(instance_id(state.sid, orig), a, b, found))
    return out


WINDOWS = [(DAY, DAY + 31 * 1440), (DAY - 3 * 1440, DAY + 2 * 1440), (DAY + 6 * 1440, DAY + 8 * 1440 + 7)]


@pytest.mark.parametrize("seed", range(4))
async def test_what_the_readers_read_is_the_plain_reading(
    redis_server: RedisProcess, prefix: str, seed: int
) -> None:
    async with open_services(redis_server, prefix) as services:
        ids = await build(services, seed)
        states = await all_states(services, ids)
        for low, high in WINDOWS:
            _, entries = await services.availability.entries(ids, low, high, default_zone="UTC")
            singles: dict[str, list[Entry]] = {}
            for uid in ids:
                got = entries[uid][1]
                singles[uid] = list(got.singles)
                assert set(got) - set(got.singles) == plain_series_entries(states, uid, low, high), uid
            # the slot search's union: every blocking entry once (an instance shared by
            # several people once), ordered
            _, union = await services.availability.inputs(ids, low, high, default_zone="UTC")
            blocking = {e for uid in ids for e in plain_series_entries(states, uid, low, high)}
            blocking |= {e for uid in ids for e in singles[uid] if e.level >= BLOCKING}
            pairs = sorted({(e.meeting_id, e.start, e.end) for e in blocking}, key=lambda m: (m[1], m[2]))
            assert union == [minute for _, a, b in pairs for minute in (a, b)]
            # rejectConflicts: a daily run of times, with and without a series of their own
            rng = random.Random(seed * 7 + low)
            at = low + rng.randint(0, 24) * 60
            times = [
                (at + k * 1440, at + k * 1440 + rng.choice([30, 120]))
                for k in range((high - low) // 1440 + 1)
            ]
            times = [(a, b) for a, b in times if b <= high]
            for ignore in ({""}, {states[rng.randrange(len(states))].sid}):
                busy, _ = await conflicts.conflicting(services, ids, times, ignore)
                expected = [
                    uid
                    for uid in ids
                    if any(
                        e.level >= BLOCKING
                        and not is_own(e.meeting_id, ignore)
                        and any(a < e.end and b > e.start for a, b in times)
                        for e in [*singles[uid], *plain_series_entries(states, uid, low, high)]
                    )
                ]
                assert busy == expected, ignore


@pytest.mark.parametrize("seed", range(3))
async def test_counts_are_the_plain_counts(redis_server: RedisProcess, prefix: str, seed: int) -> None:
    async with open_services(redis_server, prefix) as services:
        ids = await build(services, seed)
        states = await all_states(services, ids)
        rng = random.Random(seed)
        for uid in ids:
            zone = rng.choice(ZONES)
            now = DAY - rng.randint(0, 10) * 1440 + rng.randint(0, 1439)
            query = p.CountsQuery(
                localDateNow=utc(now),
                offset=rng.choice([0, 3, 40]),
                size=rng.choice([5, 100, 366]),
                timeZone=zone,
            )
            reply = await availability.meeting_counts(services, Caller(uid), query)
            got = [(c.count, c.startDate) for c in reply.meetingCounts]
            # the plain counts: each instance, not declined, on every local day it overlaps
            first = local_day(zone, local_date_of(zone, now))
            horizon = availability.counts_horizon(zone, first)
            counts: Counter[date] = Counter()
            _, flat = await services.availability.inputs([uid], first.start, None, default_zone=zone)
            for a, b in zip(flat[::2], flat[1::2], strict=True):
                for day in days_between(zone, max(a, first.start), b):
                    counts[day.date] += 1
            for state in states:
                if uid not in state.pids:
                    continue
                for orig, a, b in plain_instances(state, first.start, horizon):
                    if inst.status(state, orig, uid) != "declined":
                        for day in days_between(zone, max(a, first.start), min(b, horizon)):
                            counts[day.date] += 1
            chosen = sorted(counts)[query.offset : query.offset + query.size]
            assert [c for c, _ in got] == [counts[d] for d in chosen]
            assert [s[:10] for _, s in got] == [d.isoformat() for d in chosen]


# --- the bound ------------------------------------------------------------------------------


def bounded(services: Services, limit: int) -> Services:
    return dataclasses.replace(
        services, settings=dataclasses.replace(services.settings, max_expanded_instances=limit)
    )


async def shared_world(services: Services, people: int, series: int) -> list[str]:
    """`people` people, all in the same `series` daily series from DAY at 09:00 UTC + 10
    minutes a series (30 minutes long), organized by the first."""
    ids = [f"s{i}" for i in range(people)]
    await services.catalog.upsert_rooms([p.RoomIn(id="room")])
    await services.catalog.upsert_users([p.UserIn(id=uid, timeZone="UTC") for uid in ids])
    for k in range(series):
        await make(services, ids[0], DAY + 9 * 60 + 10 * k, 30, ids[1:], "FREQ=DAILY", "UTC")
    return ids


def month_slots(ids: list[str]) -> p.SlotQuery:
    return p.SlotQuery(
        users=[p.SlotUser(roomful=uid) for uid in ids[1:]], localDate=utc(DAY + 12 * 60), timeZone="UTC"
    )


def find(ids: list[str]) -> p.FindMeetingTimes:
    return p.FindMeetingTimes(
        attendees=[p.Attendee(roomful=uid) for uid in ids[1:]],
        startDate=utc(DAY),
        endDate=utc(DAY + 10 * 1440),
        duration=30,
        timeZone="UTC",
    )


async def test_the_bound_counts_each_series_once_and_a_step_per_person_and_series(
    redis_server: RedisProcess, prefix: str
) -> None:
    """Four people in the same three daily series from 24 March: the month holds 8
    instances of each, and the cost is each series' instances once (plus one), whoever
    takes part in it, and a step per person and series."""
    async with open_services(redis_server, prefix) as services:
        ids = await shared_world(services, 4, 3)
        month = (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))
        instances = (month[1] - utc(DAY)).days  # each series, from the 24th to the month's end
        cost = 3 * (instances + 1) + 4 * 3
        caller = Caller(ids[0])
        at_bound = await availability.slots_for_month(bounded(services, cost), caller, month_slots(ids))
        assert at_bound.availableTimeSlots
        services.availability.forget_cached()
        with pytest.raises(BadRequest) as refused:
            await availability.slots_for_month(bounded(services, cost - 1), caller, month_slots(ids))
        assert refused.value.code == 400
        assert refused.value.message == (
            "the recurring meetings of the people asked are too many to work out in one request:"
            f" {cost} instances and steps, at most {cost - 1} (--max-expanded-instances);"
            " ask for fewer users, or for a day instead of a month"
        )
        # The same from what this instance had cached: the bound is on the calendars, not the cache.
        await availability.slots_for_month(bounded(services, cost), caller, month_slots(ids))
        with pytest.raises(BadRequest):
            await availability.slots_for_month(bounded(services, cost - 1), caller, month_slots(ids))


async def test_every_reader_of_many_series_is_refused_past_the_bound_and_answers_under_it(
    redis_server: RedisProcess, prefix: str
) -> None:
    async with open_services(redis_server, prefix) as services:
        ids = await shared_world(services, 5, 12)
        caller = Caller(ids[0])
        tight, ample = bounded(services, 100), bounded(services, 100_000)
        # findMeetingTimes: 12 series x 10 days
        with pytest.raises(BadRequest, match="ask for a shorter window"):
            await findtime.find_meeting_times(tight, caller, find(ids))
        assert (await findtime.find_meeting_times(ample, caller, find(ids))).suggestions
        # the month's slots: 12 series x 8 days
        with pytest.raises(BadRequest, match="for a day instead of a month"):
            await availability.slots_for_month(tight, caller, month_slots(ids))
        await availability.slots_for_month(ample, caller, month_slots(ids))
        # counts: a page far ahead needs ten years of every series; the first page does not
        counts = p.CountsQuery(localDateNow=utc(DAY), offset=0, size=30, timeZone="UTC")
        far = p.CountsQuery(localDateNow=utc(DAY), offset=100_000, size=366, timeZone="UTC")
        page = bounded(services, 12 * 31 + 12)
        assert len((await availability.meeting_counts(page, caller, counts)).meetingCounts) == 30
        with pytest.raises(BadRequest, match="ask for a smaller offset"):
            await availability.meeting_counts(page, caller, far)
        assert (await availability.meeting_counts(ample, caller, far)).meetingCounts == []
        # a rejectConflicts series over them (free at 20:00): refused, and nothing made
        booking = p.CreateMeeting(
            sourceType="room",
            sourceIds=["room"],
            subject="checked",
            startDate=utc(DAY + 20 * 60),
            endDate=utc(DAY + 20 * 60 + 30),
            invitedUserIds=ids[1:],
            recurrence=p.RecurrenceIn(rule="FREQ=DAILY", timeZone="UTC"),
            rejectConflicts=True,
        )
        before = await services.meetings.series.busy_states(ids[:1], 0, 2**40)
        with pytest.raises(BadRequest, match="leave out rejectConflicts"):
            await create_meeting(bounded(services, 12 * 366), caller, booking)  # 366 days of each
        assert await services.meetings.series.busy_states(ids[:1], 0, 2**40) == before
        await create_meeting(ample, caller, booking)


async def test_a_long_expansion_lets_other_tasks_run_between_its_slices(
    redis_server: RedisProcess, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two turns of another task on the event loop, a request works out a slice of
    steps or two (and the series or person it was at): it does not hold the loop for the
    whole expansion."""
    async with open_services(redis_server, prefix) as services:
        ids = await shared_world(services, 30, 40)
        progress = [0]
        step = budgets.ExpansionBudget.step

        async def counted(self: budgets.ExpansionBudget, steps: int) -> None:
            progress[0] += steps
            await step(self, steps)

        monkeypatch.setattr(budgets.ExpansionBudget, "step", counted)
        monkeypatch.setattr(budgets, "PAUSE_STEPS", 100)  # a small world, small slices
        seen: list[int] = []
        done = trio.Event()

        async def other() -> None:
            while not done.is_set():
                seen.append(progress[0])
                await trio.lowlevel.checkpoint()

        services.availability.forget_cached()
        request = msgspec.structs.replace(find(ids), endDate=utc(DAY + 62 * 1440), step=5)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)
            await findtime.find_meeting_times(services, Caller(ids[0]), request)
            done.set()
        assert progress[0] > 30 * budgets.PAUSE_STEPS  # 40 series x 62 days, 30 people x 40 series
        largest = 63 + 1  # one series' instances (and one), the most one step takes here
        # trio runs each batch of runnable tasks in either order, so the request may take
        # two slices in a row (the last of one batch, the first of the next)
        gaps = [b - a for a, b in itertools.pairwise(seen)]
        assert max(gaps) < 2 * (budgets.PAUSE_STEPS + largest)
        assert len([gap for gap in gaps if gap]) > 15  # and it did come back between slices


@pytest.mark.parametrize(
    ("endpoint", "data", "inline"),
    [
        ("meeting:createMeeting", {"subject": "s"}, True),
        ("meeting:createMeeting", {"subject": "s", "rejectConflicts": True}, False),
        ("meeting:getMeeting", {"meetingId": "m"}, True),
        ("meeting:findMeetingTimes", {}, False),
    ],
)
def test_a_create_that_checks_conflicts_gets_a_task_of_its_own(
    endpoint: str, data: dict[str, object], inline: bool
) -> None:
    """A request answered inline runs without a task and cannot pause for others: a create
    with rejectConflicts works out every participant's series, so it is given a task."""
    frame = msgspec.json.encode({"endpoint": endpoint, "data": data})
    assert dispatch.one_round_trip(dispatch.read_request(frame)) is inline


@pytest.mark.parametrize("seed", range(3))
async def test_a_listing_reads_only_the_own_changes_of_its_window_and_lists_the_same(
    redis_server: RedisProcess, prefix: str, seed: int
) -> None:
    """A listing's series states hold only the instance changes its window needs
    (lua/includes/series.lua own_fields_within): instances moved into the window from
    weeks away, out of it, cancelled there, answered there. What it lists is what the
    whole states list, for windows of a day to a month, for everyone."""
    async with open_services(redis_server, prefix) as services:
        ids = await build(services, seed)
        rng = random.Random(seed)
        for state in await all_states(services, ids):
            near = [orig for orig, _, _ in inst.instances(state, DAY - 10 * 1440, DAY + 40 * 1440)]
            for orig in rng.sample(near, min(len(near), 6)):
                iid = instance_id(state.sid, orig)
                action = rng.choice(["far", "far", "cancel", "rsvp"])
                if action == "far":
                    shift = rng.choice([-1, 1]) * rng.randint(3, 25) * 1440 + rng.randint(0, 23) * 60
                    start, end = orig + shift, orig + shift + state.series.length
                    update = p.UpdateMeeting(meetingId=iid, startDate=utc(start), endDate=utc(end))
                    await update_meeting(services, Caller(state.organizer), update)
                elif action == "cancel":
                    await delete_meeting(services, Caller(state.organizer), p.DeleteMeeting(meetingId=iid))
                elif len(state.pids) > 1:
                    rsvp = rng.choice([accept_meeting, decline_meeting])
                    await rsvp(services, Caller(rng.choice(state.pids[1:])), p.MeetingRef(meetingId=iid))
        windows = [*WINDOWS, (DAY + 1440, DAY + 2 * 1440), (DAY + 17 * 1440 + 600, DAY + 18 * 1440)]
        for low, high in windows:
            for uid in ids:
                answers = []
                for window_states in (True, False):
                    page = await services.meetings.list_for_user(uid, low, high, window_states=window_states)
                    got, more = series.with_instances(
                        page, Caller(uid), low, high, 1000, AnswerBudget(1 << 30)
                    )
                    answers.append(([msgspec.json.decode(raw) for raw in got], more))
                assert answers[0] == answers[1], (uid, low, high)
