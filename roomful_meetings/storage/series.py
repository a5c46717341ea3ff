"""Series (contract 9): read their state, apply changes with compare-and-set scripts.

Theory of operation. A series is one meeting hash with a rule (`m:<id>`: rule, tz, start,
end, len, lo, hi, ver, plus every field a meeting has), one small hash for what instances
have of their own (`m:<id>:x`), and one entry per participant in `u:<uid>:series`, scored
by the earliest instance start; `hi` is the latest instance end or "inf". Nothing is
materialised per instance: reads expand the rule in Python for the window asked, and the
parsed state is cached per series version (`ver`, from the global change counter).

Changes that depend on the expansion (an instance exists, the event's instance JSON, a
split's two halves) are computed here from a read at version V and written by a script
that refuses (299) if the series is no longer at V; the change is then prepared again.
So the decision and the write are atomic without expanding RRULEs in Lua.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final, TypeVar

import msgspec

from roomful_meetings.domain.busy import Instances, SeriesEntries
from roomful_meetings.domain.instances import SeriesState, entries, own_statuses, window
from roomful_meetings.domain.recurrence import Series
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.errors import NotFound, Unavailable
from roomful_meetings.storage.base import NO_WRITE, ScriptArg, StaleVersion, Store, Write
from roomful_meetings.storage.budget import ExpansionBudget
from roomful_meetings.storage.redis.inline import pause

CACHE_ENTRIES: Final = 4096
# States parsed between two pauses for other tasks (storage/budget.py): about a millisecond.
PARSED_BETWEEN_PAUSES: Final = 32
# Attempts of a compare-and-set change before giving up (each lost race means someone
# else's change to the same series was applied in between).
CAS_ATTEMPTS: Final = 20
# The most fields a series' instance hash (`m:<id>:x`) may hold: overrides, cancellations
# and per-invitee instance answers together. Every read of a whole series state reads all
# of them, so a change that would add one past this is a 400 (lua/change_instance.lua).
# docs/protocol.md and docs/architecture.md ("Bounding a series' own changes") say why
# 10,000: a weekly series whose 100 invitees each answered every instance one by one
# would take two years to fill it.
MAX_INSTANCE_ENTRIES: Final = 10_000
# The most instances of one series with a subject, description or colour of their own (a
# description alone may be 10,000 characters): 1,000 such overrides are ~10 MB that a
# whole read still copies inside Redis (~50 ms). An instance already overridden can be
# changed again; counted in the series hash's `xo` (lua/includes/series.lua).
MAX_CONTENT_OVERRIDES: Final = 1_000

T = TypeVar("T")
# (tenant scope, series id) -> the newest state parsed
_states: OrderedDict[tuple[str, str], SeriesState] = OrderedDict()
# (tenant scope, series id, version, window) -> its instances there, shared by all its
# participants: a change to one series moves every participant's busy version, but their
# other series stay worked out here.
_windows: OrderedDict[tuple[str, str, str, int, int], Instances] = OrderedDict()
# (tenant scope, series id, version) -> each invitee's instance statuses of their own
_own: OrderedDict[tuple[str, str, str], dict[str, dict[int, str]]] = OrderedDict()
NOTHING_OWN: Final[dict[int, str]] = {}


def _text(value: bytes | None) -> str:
    return value.decode() if value is not None else ""


def parse_state(scope: str, reply: list[Any], *, whole: bool = True) -> SeriesState:
    """A series_state reply (lua/includes/series.lua) of the tenant whose keys start with
    `scope`, parsed once per series version. One instance's state (`whole` False: only
    that instance's own fields) is parsed but not kept: the cache holds whole states."""
    sid, version = reply[0].decode(), _text(reply[1])
    cached = _states.get((scope, sid))
    if cached is not None and cached.version == version:
        _states.move_to_end((scope, sid))
        return cached
    _, _, rule, zone, start, length, organizer, pids_json, statuses, flat, wall = reply
    pids = tuple(msgspec.json.decode(pids_json, type=list[str]))
    overrides: dict[int, dict[str, Any]] = {}
    cancelled: set[int] = set()
    own_statuses: dict[tuple[int, str], str] = {}
    for i in range(0, len(flat), 2):
        kind, _, rest = flat[i].decode().partition(":")
        if kind == "o":
            overrides[int(rest)] = msgspec.json.decode(flat[i + 1])
        elif kind == "c":
            cancelled.add(int(rest))
        elif kind == "s":
            minute, _, uid = rest.partition(":")
            own_statuses[(int(minute), uid)] = flat[i + 1].decode()
    state = SeriesState(
        sid=sid,
        version=version,
        series=Series(
            parse_rule(rule.decode()),
            zone.decode(),
            int(start),
            int(length),
            datetime.fromisoformat(wall.decode()) if wall else None,  # lua/includes/series.lua
        ),
        organizer=organizer.decode(),
        pids=pids,
        statuses={uid: s.decode() for uid, s in zip(pids, statuses, strict=True) if s is not None},
        overrides=overrides,
        cancelled=frozenset(cancelled),
        instance_statuses=own_statuses,
    )
    if not whole:
        return state
    _states[(scope, sid)] = state
    if len(_states) > CACHE_ENTRIES:
        _states.popitem(last=False)
    return state


async def compare_and_set(
    store: Store, write: Write, attempt: Callable[[], Awaitable[T]], replay: Callable[[list[Any]], T]
) -> T:
    """Run a prepare-then-write step until its write finds the version it prepared from.

    A repeated request (same user and event.id, contract 6) gets the first answer from
    what its script stored (`replay` turns that into the answer), before anything is read:
    the read could no longer find what the first request changed (a cancelled instance).
    So does a repeat that raced its first request and found gone what that one changed.
    """
    recorded = await _recorded(store, write)
    if recorded is not None:
        return replay(recorded)
    for _ in range(CAS_ATTEMPTS):
        try:
            return await attempt()
        except StaleVersion:
            continue
        except NotFound:
            recorded = await _recorded(store, write)
            if recorded is None:
                raise
            return replay(recorded)
    raise Unavailable("the series kept changing while this change was prepared; try again")


def stored_meeting(stored: list[Any]) -> msgspec.Raw:
    """The meeting JSON of a change script's stored answer: the last item of each
    ({0, json} of update_meeting/update_series/split_series, {0, changed, json} of
    change_instance), for a replay."""
    return msgspec.Raw(str(stored[-1]).encode())


async def _recorded(store: Store, write: Write) -> list[Any] | None:
    """The first answer of the request `write` repeats, None when there is none (any more)."""
    key = write.retry_key
    if key is None or not await store.redis.execute("EXISTS", key):
        return None
    try:  # through a change script: the repeat waits for the replicas as the first did
        return [0, *_as_stored(await store.run("replay_request", [key], [], write=write))]
    except NotFound:
        return None  # expired since: a new request


def _as_stored(reply: list[Any]) -> list[Any]:
    """A script's reply with Redis's bytes as str, as the stored JSON record reads."""
    return [
        v.decode() if isinstance(v, bytes) else _as_stored(v) if isinstance(v, list) else v for v in reply
    ]


def pairs(values: dict[str, object]) -> list[ScriptArg]:
    """Hash field/value pairs: `j:<name>` values JSON-encoded, the others as they are."""
    out: list[ScriptArg] = []
    for name, value in values.items():
        if name.startswith("j:"):
            out += [name, msgspec.json.encode(value)]
        else:
            out += [name, value if isinstance(value, str | bytes | int) else str(value)]
    return out


def _kept(cache: OrderedDict[Any, Any], key: Any, value: T) -> T:
    cache[key] = value
    if len(cache) > 4 * CACHE_ENTRIES:
        cache.popitem(last=False)
    return value


def series_window(scope: str, state: SeriesState, start: int, end: int) -> Instances:
    """The series' instances in [start, end), worked out once per series version and
    window (domain/instances.py `window`), with the tenant's scope in the key: versions
    count per tenant."""
    key = (scope, state.sid, state.version, start, end)
    found = _windows.get(key)
    if found is not None:
        _windows.move_to_end(key)
        return found
    return _kept(_windows, key, window(state, start, end))


def person_entries(scope: str, state: SeriesState, found: Instances, uid: str) -> SeriesEntries:
    """`uid`'s busy entries at the series' instances `found` (domain/busy.py): their
    series status's level, but at the instances where they have a status of their own."""
    key = (scope, state.sid, state.version)
    own = _own.get(key)
    if own is None:
        own = _kept(_own, key, own_statuses(state))
    return entries(state, found, uid, own.get(uid, NOTHING_OWN))


class SeriesStore(Store):
    async def get(
        self, sid: str, caller: str, instance: int | None = None
    ) -> tuple[dict[str, Any], SeriesState]:
        """The series object and state; 404 unless it is a series the caller takes part in.
        With `instance` (an original start minute) the state holds only that instance's own
        fields: enough for its object, existence and statuses, not for the series' bounds."""
        args: list[ScriptArg] = [sid, caller, "" if instance is None else instance]
        json, state = await self.run("get_series", [self.keys.meeting(sid)], args)
        return msgspec.json.decode(json), parse_state(self.keys.scope, state, whole=instance is None)

    async def busy_states(
        self, uids: list[str], start: int, end: int, budget: ExpansionBudget | None = None
    ) -> tuple[dict[str, list[str]], dict[str, SeriesState]]:
        """Each user's series that may have instances in [start, end), and their states.

        Ids and versions first; then only the states not parsed at those versions (a
        change to one series moves its participants' busy versions, not the others'). A
        step of the `budget` per user and series: refused before any state is parsed."""
        keys = [self.keys.user_series(uid) for uid in uids]
        (users,) = await self.run("read_series_busy", keys, [start, end, *uids]) if uids else ([],)
        by_user: dict[str, list[str]] = {}
        versions: dict[str, str] = {}
        for i in range(0, len(users), 2):
            pairs_ = users[i + 1]
            by_user[users[i].decode()] = sids = [pairs_[j].decode() for j in range(0, len(pairs_), 2)]
            versions.update(zip(sids, (_text(pairs_[j]) for j in range(1, len(pairs_), 2)), strict=True))
        if budget is not None:
            budget.require(sum(map(len, by_user.values())))
        scope = self.keys.scope
        states = {
            sid: cached
            for sid, v in versions.items()
            if (cached := _states.get((scope, sid))) is not None and cached.version == v
        }
        stale = [sid for sid in versions if sid not in states]
        if stale:
            states.update((state.sid, state) for state in await self.states(stale))
        # A series deleted between the two reads drops out.
        return {uid: [sid for sid in sids if sid in states] for uid, sids in by_user.items()}, states

    async def states(self, sids: list[str]) -> list[SeriesState]:
        """The states of the series that exist among `sids`, in that order (read afresh)."""
        keys = [self.keys.meeting(sid) for sid in sids]
        (replies,) = await self.run("read_series_states", keys, [*sids])
        out = []
        for i, reply in enumerate(replies, 1):
            out.append(parse_state(self.keys.scope, reply))
            if i % PARSED_BETWEEN_PAUSES == 0:  # a user in a thousand series: ~50 ms
                await pause()
        return out

    async def change_instance(
        self,
        state: SeriesState,
        caller: str,
        kind: str,
        orig: int,
        instance_id: str,
        *,
        own: dict[str, Any] | None = None,
        times_changed: bool = False,
        event_json: bytes = b"",
        bounds: tuple[int, int | None] | None,
        write: Write = NO_WRITE,
    ) -> bool:
        """Apply one instance's change (lua/change_instance.lua); False when it changed
        nothing. `bounds` None keeps the series' stored ones (a change that moves nothing)."""
        low, high = ("", "") if bounds is None else (bounds[0], "inf" if bounds[1] is None else bounds[1])
        args: list[ScriptArg] = [
            state.sid,
            caller,
            state.version,
            kind,
            orig,
            instance_id,
            b"" if own is None else msgspec.json.encode(own),
            "1" if times_changed else "",
            event_json,
            low,
            high,
            MAX_INSTANCE_ENTRIES,
            MAX_CONTENT_OVERRIDES,
        ]
        keys = [self.keys.meeting(state.sid), self.keys.series_instances(state.sid)]
        changed, _ = await self.run("change_instance", keys, args, write=write)
        return bool(changed)

    async def update(
        self,
        sid: str,
        caller: str,
        version: str,
        *,
        participants: list[str] | None,
        reset: bool,
        values: dict[str, object],
        write: Write = NO_WRITE,
    ) -> msgspec.Raw:
        """Change a whole series read at `version` (lua/update_series.lua); its new JSON."""
        args: list[ScriptArg] = [
            sid,
            caller,
            version,
            b"" if participants is None else msgspec.json.encode(participants),
            "1" if reset else "",
            *pairs(values),
        ]
        keys = [self.keys.meeting(sid), self.keys.series_instances(sid)]
        (json,) = await self.run("update_series", keys, args, write=write)
        return msgspec.Raw(json)

    async def split(
        self,
        state: SeriesState,
        caller: str,
        new_id: str,
        *,
        old_values: dict[str, object],
        dropped: list[str],
        participants: list[str] | None,
        reset: bool,
        moved: dict[str, str],
        new_values: dict[str, object],
        write: Write = NO_WRITE,
    ) -> msgspec.Raw | None:
        """End the series before an instance and, with `new_id`, start the new series
        there (lua/split_series.lua); the new series' JSON, None when only ended. The old
        series' pairs travel as one JSON object, the new one's as ARGV pairs (a script
        has one variable-length tail)."""
        old_pairs = pairs(old_values)
        old_object = {
            str(old_pairs[i]): (v.decode() if isinstance(v := old_pairs[i + 1], bytes) else str(v))
            for i in range(0, len(old_pairs), 2)
        }
        args: list[ScriptArg] = [
            state.sid,
            caller,
            state.version,
            new_id,
            msgspec.json.encode(old_object),
            msgspec.json.encode(dropped),
            b"" if participants is None else msgspec.json.encode(participants),
            "1" if reset else "",
            msgspec.json.encode(moved),
            *pairs(new_values),
        ]
        # Only ending: the script leaves KEYS[3..4] alone, but a script's keys are declared
        # all the same, so the old series' keys stand in.
        target = new_id or state.sid
        keys = [
            self.keys.meeting(state.sid),
            self.keys.series_instances(state.sid),
            self.keys.meeting(target),
            self.keys.series_instances(target),
        ]
        (json,) = await self.run("split_series", keys, args, write=write)
        return msgspec.Raw(json) if json else None
