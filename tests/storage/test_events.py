"""Replaying a user's retained events: frames kept in the entry or stored once for many
recipients, the newest 1000 of a stream trimmed only approximately, and what is complete."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.events import EVENTS_KEPT, EventStore
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import load_scripts, open_redis

DAY_MS = 24 * 3600 * 1000


@pytest.fixture
async def store(redis_server: RedisProcess, prefix: str) -> AsyncIterator[EventStore]:
    async with open_redis(redis_server.address) as redis:
        await redis.wait_connected()
        yield EventStore(redis, load_scripts(), Keys(prefix))


async def add(store: EventStore, user: str, event_id: str, *, frame: bytes = b"", shared: str = "") -> None:
    stream = store.keys.user_events(user)
    if shared:
        await store.redis.execute("XADD", stream, event_id, "r", shared)
    else:
        await store.redis.execute("XADD", stream, event_id, "f", frame)


async def test_a_replay_reads_frames_from_the_entry_and_from_the_shared_copy(store: EventStore) -> None:
    now = int(time.time() * 1000)
    await store.redis.execute("SET", store.keys.event_frame(f"{now}-1", "2"), b'{"shared":1}')
    await add(store, "ann", f"{now}-0", frame=b'{"own":0}')
    await add(store, "ann", f"{now}-1", shared="2")
    complete, events = await store.since("ann", "", max_age_ms=DAY_MS, now_ms=now)
    assert complete and events == [(f"{now}-0", b'{"own":0}'), (f"{now}-1", b'{"shared":1}')]


async def test_an_event_whose_shared_frame_is_gone_is_not_replayed(store: EventStore) -> None:
    now = int(time.time() * 1000)
    await add(store, "ann", f"{now}-0", shared="1")  # its frame expired
    await add(store, "ann", f"{now}-1", frame=b"{}")
    assert await store.since("ann", "", max_age_ms=DAY_MS, now_ms=now) == (True, [(f"{now}-1", b"{}")])
    complete, events = await store.since("ann", f"{now}-0", max_age_ms=DAY_MS, now_ms=now)
    assert not complete and events == [(f"{now}-1", b"{}")]


async def test_only_the_newest_events_kept_are_replayed(store: EventStore) -> None:
    now = int(time.time() * 1000)
    ids = [f"{now}-{n}" for n in range(EVENTS_KEPT + 5)]
    for event_id in ids:  # more than kept: approximate trimming leaves some over
        await add(store, "ann", event_id, frame=event_id.encode())
    complete, events = await store.since("ann", "", max_age_ms=DAY_MS, now_ms=now)
    assert complete and [eid for eid, _ in events] == ids[-EVENTS_KEPT:]
    complete, events = await store.since("ann", ids[4], max_age_ms=DAY_MS, now_ms=now)
    assert complete and [eid for eid, _ in events] == ids[5:]  # everything after it is kept
    complete, events = await store.since("ann", ids[3], max_age_ms=DAY_MS, now_ms=now)
    assert not complete and [eid for eid, _ in events] == ids[-EVENTS_KEPT:]  # ids[4] is lost


async def test_events_older_than_the_window_are_not_replayed(store: EventStore) -> None:
    now = int(time.time() * 1000)
    old, new = f"{now - DAY_MS - 1}-0", f"{now}-0"
    await add(store, "ann", old, frame=b"old")
    await add(store, "ann", new, frame=b"new")
    assert await store.since("ann", "", max_age_ms=DAY_MS, now_ms=now) == (True, [(new, b"new")])
    assert await store.since("ann", old, max_age_ms=DAY_MS, now_ms=now) == (False, [(new, b"new")])
    assert await store.since("ann", "junk", max_age_ms=DAY_MS, now_ms=now) == (False, [(new, b"new")])
