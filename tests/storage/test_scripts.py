"""The script loader (storage/redis/scripts.py) and what Store.run enforces: a script's
contract is its header, its helpers come in as includes it names, and errors are told by
the file and line they come from."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from roomful_meetings.errors import BadRequest
from roomful_meetings.protocol.payloads import RoomIn, UserIn
from roomful_meetings.storage.base import Store, Write
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.events import EventStore
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingStore
from roomful_meetings.storage.redis import PubSub, Redis, ReplyError, load_scripts
from roomful_meetings.storage.redis.scripts import Header, LoadOptions, assemble
from tests.storage.world import LOBBY, fields

DAY_MS = 24 * 3600 * 1000


def now_ms() -> int:
    return int(time.time() * 1000)


HEADER = """--[[
  A probe.

  Mode: {mode}
  KEYS[1]: a key
  ARGV[1]: a value
  Returns: {{0, ...}}
]]
"""


def folder(tmp_path: Path, scripts: dict[str, str], includes: dict[str, str]) -> Path:
    (tmp_path / "includes").mkdir()
    for name, text in scripts.items():
        (tmp_path / f"{name}.lua").write_text(text)
    for name, text in includes.items():
        (tmp_path / "includes" / f"{name}.lua").write_text(text)
    return tmp_path


def test_includes_come_once_each_before_what_needs_them(tmp_path: Path) -> None:
    body = HEADER.format(mode="read") + '--- @include "b"\n--- @include "a"\nreturn {0, a() + b()}\n'
    lua = folder(
        tmp_path,
        {"probe": body},
        {
            "a": "local function a() return 1 end\n",
            "b": '--- @include "a"\nlocal function b() return a() end\n',
        },
    )
    text = assemble(lua / "probe.lua").source.decode()
    assert text.count("local function a()") == 1
    assert text.index("local function a()") < text.index("local function b()") < text.index("return {0")


def test_an_include_cycle_or_a_missing_include_is_refused_by_name(tmp_path: Path) -> None:
    lua = folder(
        tmp_path,
        {
            "probe": HEADER.format(mode="read") + '--- @include "a"\n',
            "lost": HEADER.format(mode="read") + '--- @include "nope"\n',
        },
        {"a": '--- @include "b"\n', "b": '--- @include "a"\n'},
    )
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        assemble(lua / "probe.lua")
    with pytest.raises(ValueError, match=r"lost\.lua.*no includes/nope\.lua"):
        assemble(lua / "lost.lua")


@pytest.mark.parametrize(
    ("header", "complaint"),
    [
        ("--[[\n  KEYS[1]: k\n  Returns: {0}\n]]\n", "Mode"),
        ("--[[\n  Mode: read\n  Returns: {0}\n]]\n", "no KEYS"),
        ("--[[\n  Mode: change\n  KEYS[2]: k\n  Returns: {0}\n]]\n", "not 1..n"),
        ("--[[\n  Mode: read\n  KEYS[1]: k\n]]\n", "Returns"),
    ],
)
def test_a_header_without_its_contract_is_refused(header: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Header.parse(header)


def test_every_script_declares_its_mode_and_at_least_one_key() -> None:
    for name, script in load_scripts().items():
        assert script.header is not None and script.header.mode in ("change", "read"), name
        assert script.header.keys >= 1 or script.header.more_keys, name  # a cluster routes by it


async def test_an_error_in_a_script_is_told_by_its_file_and_line(
    tmp_path: Path, redis: Redis, prefix: str
) -> None:
    include = "local function ok() return 1 end\n\nlocal function broken()\n  return nothing.here\nend\n"
    lua = folder(
        tmp_path,
        {"probe": HEADER.format(mode="read") + '--- @include "boom"\nreturn {0, broken()}\n'},
        {"boom": include},
    )
    store = Store(redis, {"probe": assemble(lua / "probe.lua")}, Keys(prefix))
    with pytest.raises(ReplyError) as raised:
        await store.run("probe", [prefix + "k"], ["v"])
    assert "lua/includes/boom.lua:4 (user_script:" in str(raised.value)


async def test_every_call_is_checked_against_the_declared_keys(redis: Redis, prefix: str) -> None:
    meetings = MeetingStore(redis, load_scripts(), Keys(prefix))
    with pytest.raises(ValueError, match=r"get_meeting\.lua takes 1 KEYS, given 2"):
        await meetings.run("get_meeting", [prefix + "a", prefix + "b"], ["m", "alice"])
    with pytest.raises(ValueError, match=r"read_series_states\.lua takes at least 1 KEYS, given 0"):
        await meetings.run("read_series_states", [], [])


async def test_a_retry_key_goes_to_changes_only(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    scripts = load_scripts()
    catalog, meetings = CatalogStore(redis, scripts, keys), MeetingStore(redis, scripts, keys)
    first, second = keys.request("alice", "e1"), keys.request("alice", "e2")
    await catalog.upsert_users([UserIn(id="alice")], write=Write(first))
    assert await redis.execute("EXISTS", first) == 1  # the change stored its answer
    with pytest.raises(Exception, match="not found"):
        await meetings.run("get_meeting", [keys.meeting("m")], ["m", "alice"], write=Write(second))
    assert await redis.execute("EXISTS", second) == 0  # a read never gets one


async def test_held_events_wait_for_their_release_and_replays_stop_at_the_mark(
    redis: Redis, prefix: str, redis_server: RedisProcess
) -> None:
    keys = Keys(prefix, "acme")
    held = load_scripts(options=LoadOptions(hold_events=True))
    catalog, meetings = CatalogStore(redis, held, keys), MeetingStore(redis, held, keys)
    events = EventStore(redis, held, keys)
    await catalog.upsert_users([UserIn(id="alice"), UserIn(id="bob")])
    await catalog.upsert_rooms([RoomIn(id="lobby")])
    published: list[bytes] = []
    tap = PubSub(redis_server.address, lambda _, data: published.append(data))
    async with trio.open_nursery() as nursery:
        await nursery.start(tap.run)
        await tap.subscribe(keys.events_channel())
        # Run the script alone (no release): the event is in the streams and the outbox only.
        await create_held(meetings, "m1")
        assert await redis.execute("LLEN", keys.outbox()) == 1
        assert await events.last_event_id("bob") == ""  # nothing released yet
        assert (await events.since("bob", "", max_age_ms=DAY_MS, now_ms=now_ms()))[1] == []
        await events.release_held()  # what an instance's sweep does
        with trio.fail_after(5):
            while not published:  # noqa: ASYNC110 - the tap is another connection
                await trio.sleep(0.01)
        first = published[0].split(b"\n", 1)[0].decode()
        assert await events.last_event_id("bob") == first
        assert [eid for eid, _ in (await events.since("bob", "", max_age_ms=DAY_MS, now_ms=now_ms()))[1]] == [
            first
        ]
        assert await redis.execute("LLEN", keys.outbox()) == 0
        # Through run(), a change releases its own events once it succeeded.
        await meetings.create(
            "m2",
            "alice",
            LOBBY,
            keys.room("lobby"),
            200,
            260,
            ["alice", "bob"],
            fields("m2"),
        )
        with trio.fail_after(5):
            while len(published) < 2:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert await redis.execute("LLEN", keys.outbox()) == 0
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "record",
    [
        b'[0,"the first answer"]',  # JSON, as this release writes it
        b"\x92\x00\xb0the first answer",  # MessagePack, as a later release may (a rollback)
    ],
)
async def test_a_stored_retry_record_is_answered_in_either_format(
    redis: Redis, prefix: str, record: bytes
) -> None:
    """The change does not run again: the first answer comes back."""
    keys = Keys(prefix)
    catalog = CatalogStore(redis, load_scripts(), keys)
    key = keys.request("alice", "e1")
    await redis.execute("SET", key, record, "EX", 600)
    answer = await catalog.run("upsert_users", [keys.user("bob")], ["bob", "-", "0"], write=Write(key))
    assert answer == [b"the first answer"]
    assert await redis.execute("EXISTS", keys.user("bob")) == 0


async def test_a_record_is_answered_only_to_the_request_that_made_it(redis: Redis, prefix: str) -> None:
    """The wrapper's 400: another fingerprint under a recorded key runs nothing. A record
    without a fingerprint (the earlier release) and a caller without one are answered."""
    keys = Keys(prefix)
    catalog = CatalogStore(redis, load_scripts(), keys)
    key = keys.request("alice", "e1")
    first = await catalog.run(
        "upsert_users", [keys.user("bob")], ["bob", "-", "0"], write=Write(key, request_print="a" * 24)
    )
    assert await redis.execute("GET", keys.request_print(key)) == b"a" * 24
    same = await catalog.run(
        "upsert_users", [keys.user("bob")], ["bob", "-", "0"], write=Write(key, request_print="a" * 24)
    )
    assert same == first
    with pytest.raises(BadRequest, match=r"event\.id` was given to a different request"):
        await catalog.run(
            "upsert_users",
            [keys.user("carol")],
            ["carol", "-", "0"],
            write=Write(key, request_print="b" * 24),
        )
    assert await redis.execute("EXISTS", keys.user("carol")) == 0
    assert (
        await catalog.run("upsert_users", [keys.user("carol")], ["carol", "-", "0"], write=Write(key))
        == first
    )
    await redis.execute("DEL", keys.request_print(key))  # as the earlier release left it
    old = await catalog.run(
        "upsert_users", [keys.user("carol")], ["carol", "-", "0"], write=Write(key, request_print="b" * 24)
    )
    assert old == first and await redis.execute("EXISTS", keys.user("carol")) == 0


class Unreleased(MeetingStore):
    """The meeting store without its release step: with events held, a change's event
    stays in the streams and the outbox."""

    async def release(self, up_to: str) -> None:
        pass


async def create_held(meetings: MeetingStore, meeting_id: str) -> None:
    """alice's meeting with bob in the lobby, its events not released."""
    alone = Unreleased(meetings.redis, meetings.scripts, meetings.keys)
    await alone.create(meeting_id, "alice", LOBBY, meetings.keys.room("lobby"), 100, 160, ["alice", "bob"],
                       fields(meeting_id))  # fmt: skip


class AfterFirstReply:
    """The suite's Redis client, running `then` once, right after its first reply: a change
    that lands between two reads of one request."""

    def __init__(self, redis: Redis, then: Callable[[], Awaitable[None]]) -> None:
        self._redis, self._then = redis, then
        self.replies = 0

    async def _after(self, reply: Any) -> Any:
        self.replies += 1
        if self.replies == 1:
            await self._then()
        return reply

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._after(await self._redis.execute(*args, **kwargs))

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:
        return await self._after(await self._redis.evalsha(*args, **kwargs))


async def test_a_connection_starting_as_the_first_event_is_held_is_not_told_of_it(
    redis: Redis, prefix: str
) -> None:
    """lastEventId (and a replay) never name an event that is not released yet, even when
    the tenant's first held event is written between the reads behind them: its released
    mark appears in the same step. A connection told of it would drop it, as a duplicate,
    when it is released (a Sentinel failover test caught it, once in ~30 runs)."""
    keys = Keys(prefix, "acme")
    held = load_scripts(options=LoadOptions(hold_events=True))
    catalog, meetings = CatalogStore(redis, held, keys), MeetingStore(redis, held, keys)
    await catalog.upsert_users([UserIn(id="alice"), UserIn(id="bob")])
    await catalog.upsert_rooms([RoomIn(id="lobby")])
    racing = AfterFirstReply(redis, lambda: create_held(meetings, "m1"))
    events = EventStore(racing, held, keys)  # type: ignore[arg-type]
    assert await events.last_event_id("bob") == ""
    assert racing.replies >= 1 and await redis.execute("LLEN", keys.outbox()) == 1  # it did land
    assert await events.last_event_id("bob") == ""  # and stays unshown until released


@pytest.mark.parametrize(
    ("last_seq", "expected"),
    [
        (lambda code: 7, lambda ms, code: (ms, code << 20)),  # of the release before codes
        (lambda code: (code << 20) + 4, lambda ms, code: (ms, (code << 20) + 5)),
        (lambda code: (code << 20) + (1 << 20) - 1, lambda ms, code: (ms + 1, code << 20)),  # full
    ],
    ids=["after-an-id-without-code", "next-in-the-millisecond", "after-a-full-millisecond"],
)
async def test_a_tenants_next_event_id_carries_its_code_and_stays_above_the_last(
    redis: Redis,
    prefix: str,
    last_seq: Callable[[int], int],
    expected: Callable[[int, int], tuple[int, int]],
) -> None:
    keys = Keys(prefix, "acme")
    catalog, meetings = CatalogStore(redis, load_scripts(), keys), MeetingStore(redis, load_scripts(), keys)
    await catalog.upsert_users([UserIn(id="alice"), UserIn(id="bob")])
    await catalog.upsert_rooms([RoomIn(id="lobby")])
    ahead = now_ms() + 3_600_000  # the last id handed out lies ahead of every clock here
    await redis.execute("SET", keys.event_seq(), f"{ahead}-{last_seq(keys.event_code)}")
    await meetings.create("m1", "alice", LOBBY, keys.room("lobby"), 100, 160, ["alice", "bob"], fields("m1"))
    (entry,) = await redis.execute("XRANGE", keys.user_events("bob"), "-", "+")
    ms, seq = (int(part) for part in entry[0].decode().split("-"))
    assert (ms, seq) == expected(ahead, keys.event_code)
