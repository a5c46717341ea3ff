"""What the series scripts do beyond their output codes (each code has its scenario in
test_script_codes.py): what a success returns, the other causes of a code, and the
NOSCRIPT path. Built with the stores on the suite's Redis (tests/storage/world.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from roomful_meetings.domain.busy import BUSY, Entries, Entry, SeriesEntries
from roomful_meetings.domain.instances import SeriesState
from roomful_meetings.errors import ApiError
from roomful_meetings.storage.base import Write
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis, load_scripts
from roomful_meetings.storage.redis.scripts import LoadOptions
from roomful_meetings.storage.series import SeriesStore, compare_and_set
from tests.storage.world import (
    FIRST,
    MONDAY,
    SERIES,
    Stores,
    create,
    create_series,
    rsvp,
    seed,
    split,
    stores,
)


@pytest.fixture
async def world(redis: Redis, prefix: str) -> tuple[Stores, SeriesState]:
    """The seeded catalog, the single meeting m1 and the weekly SERIES, with its state."""
    s = stores(redis, Keys(prefix), load_scripts())
    await seed(s)
    await create(s)
    return s, await create_series(s)


async def expect(code: int, call: Any) -> None:
    with pytest.raises(ApiError) as error:
        await call
    assert error.value.code == code


async def test_get_series_reads_only_series(world: tuple[Stores, SeriesState]) -> None:
    s, _ = world
    obj, state = await s.series.get(SERIES, "bob")
    assert obj["meetingId"] == SERIES and state.series.length == 15 and state.pids == ("alice", "bob")
    await expect(404, s.series.get("m1", "alice"))  # a single meeting is not a series
    await expect(404, s.series.get("nope", "alice"))


async def test_series_busy_are_those_with_instances_in_the_window(world: tuple[Stores, SeriesState]) -> None:
    s, _ = world
    by_user, states = await s.series.busy_states(["bob", "carol"], MONDAY - 60, MONDAY + 60)
    assert by_user == {"bob": [SERIES], "carol": []} and set(states) == {SERIES}
    by_user, _ = await s.series.busy_states(["bob"], 0, FIRST)  # ends at the first start
    assert by_user == {"bob": []}
    assert [state.sid for state in await s.series.states(["nope", SERIES])] == [SERIES]  # those that exist


async def test_change_instance_tells_whether_it_changed(world: tuple[Stores, SeriesState]) -> None:
    s, _ = world
    _, state = await s.series.get(SERIES, "bob")
    assert await rsvp(s.series, state, "bob", "declined") is True  # {0, 1}
    _, state = await s.series.get(SERIES, "bob")
    assert await rsvp(s.series, state, "bob", "declined") is False  # {0, 0}: nothing changed
    cancel = s.series.change_instance(state, "bob", "cancel", MONDAY, "x", bounds=(FIRST, None))
    await expect(403, cancel)  # only the organizer cancels
    await expect(404, rsvp(s.series, replace(state, sid="nope"), "bob", "accepted"))


async def test_update_series_writes_and_checks_invitees(world: tuple[Stores, SeriesState]) -> None:
    s, state = world
    changed = await s.series.update(
        SERIES, "alice", state.version, participants=None, reset=False, values={"j:subject": "New"}
    )
    assert b'"subject":"New"' in bytes(changed)
    _, state = await s.series.get(SERIES, "alice")
    ghost = s.series.update(
        SERIES, "alice", state.version, participants=["alice", "ghost"], reset=False, values={}
    )
    await expect(404, ghost)  # an unknown invitee
    await expect(404, s.series.update("nope", "alice", "", participants=None, reset=False, values={}))


async def test_split_starts_a_new_series_or_only_ends(world: tuple[Stores, SeriesState]) -> None:
    s, state = world
    await expect(404, split(s.series, state, "alice", "n1", participants=["alice", "ghost"]))
    made = await split(s.series, state, "alice", "n1")  # {0, new series JSON}
    assert made is not None and b'"meetingId":"n1"' in bytes(made)
    _, state = await s.series.get("n1", "alice")
    assert await split(s.series, state, "alice", "") is None  # {0, ""}: only ended


async def test_series_scripts_survive_a_script_flush(world: tuple[Stores, SeriesState]) -> None:
    s, _ = world
    await s.series.redis.execute("SCRIPT", "FLUSH")
    _, state = await s.series.get(SERIES, "bob")  # NOSCRIPT, loaded, run again
    assert await rsvp(s.series, state, "bob", "accepted") is True


async def test_two_tenants_series_at_the_same_version_are_never_confused(redis: Redis, prefix: str) -> None:
    """Versions count per tenant, so the process-wide caches of series must key on the tenant:
    the same series id, changed once in each tenant, once declined and once accepted."""
    found = {}
    for tenant, answer in (("a", "declined"), ("b", "accepted")):
        s = stores(redis, Keys(prefix, tenant), load_scripts())
        await seed(s)
        await rsvp(s.series, await create_series(s), "bob", answer)
        out: dict[str, tuple[SeriesEntries, ...]] = {}
        await s.availability.series_entries(["bob"], MONDAY - 60, MONDAY + 60, out)
        found[tenant] = ((await s.series.get(SERIES, "bob"))[1].version, list(Entries(series=out["bob"])))
    # The same count in each tenant's counter (a version also carries the change's time,
    # which may differ): keyed by version alone, a cache could mix them up.
    assert found["a"][0].split("-")[0] == found["b"][0].split("-")[0]
    accepted = Entry(f"{SERIES}_20270308T0900Z", MONDAY, MONDAY + 15, BUSY)
    assert found["a"][1] == [] and found["b"][1] == [accepted]


class Unreleased(SeriesStore):
    """A store whose changes release nothing: as when the server's WAIT after the first
    request failed (503, "outcome unknown"), which leaves the change's events held."""

    async def release(self, up_to: str) -> None:
        return None


async def test_a_repeat_answered_from_the_stored_result_releases_the_first_requests_events(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    scripts = load_scripts(options=LoadOptions(hold_events=True))
    s = stores(redis, keys, scripts)
    await seed(s)
    state = await create_series(s)
    write = Write(keys.request("bob", "decline-1"))

    async def decline(store: SeriesStore) -> bool:
        return await store.change_instance(
            state, "bob", "declined", MONDAY, f"{SERIES}_{MONDAY}", event_json=b"{}",
            bounds=(FIRST, None), write=write,
        )  # fmt: skip

    unreleased = Unreleased(redis, scripts, keys)
    assert await compare_and_set(unreleased, write, lambda: decline(unreleased), bool)
    held = await redis.execute("LRANGE", keys.outbox(), 0, -1)
    assert held  # the first request's events wait

    def replay(stored: list[object]) -> str:
        return "replayed"

    assert await compare_and_set(s.series, write, lambda: decline(s.series), replay) == "replayed"
    assert await redis.execute("LLEN", keys.outbox()) == 0  # released by the repeat
    newest = held[-1].split(b"\n", 1)[0]
    assert await redis.execute("GET", keys.released()) == newest
