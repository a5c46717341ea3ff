"""Lua scripts as files: each one's contract declared in its header, assembled once with the
includes it names, SHA computed locally, EVALSHA with one NOSCRIPT retry.

Theory of operation. A script in `lua/` starts with a header block that the loader reads
(`Header`): what it does, its `Mode:` (`change` or `read`), every `KEYS[i]` (or `KEYS[i..]`
for a list of any length) and `ARGV[i]` it takes, and `Returns:` with every output code.
Below the header, `--- @include "name"` lines pull in helpers from `lua/includes/name.lua`
(each include may name others; each is taken once, before what needs it), as BullMQ's
scripts do. The loader wraps the whole for its mode, so that the callers' side of the
contract is enforced in one place (`storage/base.py` Store.run):

- Every call passes the library's arguments first; the wrapper binds them and hands the
  script its own ARGV from 1 (and its own KEYS, without the retry key):
  ARGV[1] the tenant's key prefix (it carries the tenant's {hash tag}), ARGV[2] now in ms,
  ARGV[3] now as RFC 3339 UTC; a change also gets ARGV[4]: "" when it has no safe-retry
  key (contract 6), "1" when its last KEY is one, or the request's fingerprint when its
  last two KEYS are that key and the fingerprint's (`Keys.request_print`); and ARGV[5]
  the busy versions a rejectConflicts check read (contract 10), as JSON {userId: version},
  or "".
- A change with a retry key whose result is stored answers that result again without
  running (and refreshes the record's expiry: a write, so that a WAIT after the repeat
  covers the first request's change too); a successful result is stored for 10 minutes in
  the same atomic step, as JSON. Its fingerprint is stored beside it (`reqp:` for `req:`),
  and a request whose fingerprint differs is not a repeat but a new request under a used
  id: it answers 400 and runs nothing (a client that restarts its ids would otherwise get
  an earlier answer for a change never made). A record without a fingerprint (written by
  an earlier release) is answered as before, and that release ignores `reqp:` keys: the
  two run side by side in a rolling upgrade (a repeat answered by the earlier release
  refreshes only the record, so its fingerprint may expire first; then the record is
  answered to any request, as before). The second SET costs 2 % of a create's Redis
  instructions (bench/script_cost.py: 782k without it, 797k with it).
  A MessagePack record is read too: writing MessagePack would save 2 % of a create
  (cjson escapes every quote of a meeting's JSON), but a release that cannot read it
  would fail a retry during a rolling upgrade or a rollback, so a later release may write
  it once this one, which reads both, is everywhere.
  A change with busy versions runs only if none moved, else it answers 298 and writes
  nothing. Every change ends with the deferred version writes
  (`finish`, lua/includes/versions.lua).
- Read scripts get neither: the loader never appends a retry key to them, and the client
  waits for no replica after them.

Two settings are compiled into the scripts (`LoadOptions`): whether they run on a cluster
(events are then published with SPUBLISH, and every script starts with the slot guard
below) and whether events wait in the tenant's outbox until replicas hold the change
(--redis-min-replicas; lua/includes/events.lua). A change then also returns the newest
event id it handed out as its last value, for the server to release once its WAIT
succeeded.

The slot guard. Scripts build most of the keys they touch (a participant's stream, the
tenant's counters: lua/includes/keys.lua), so Redis checks only the declared KEYS before
running one. While a tenant's slot is being moved to another node (`redis-cli --cluster
reshard`, MIGRATING on the old node, IMPORTING on the new) that is not enough: on the old
node a script fails at the first key already moved, after the writes before it (Redis
does not undo them); on the new node, reached by following ASK, it reads keys not moved
yet as absent and writes them anew, so their MIGRATE later fails with BUSYKEY and the move
stops half done. So on a cluster every script first asks `EXISTS` of two keys that are
never written: while the slot is in a move, a missing key makes that first command fail
on either node (ASK or TRYAGAIN inside a script: "Script attempted to access a non local
key"), before anything is read or written; the script then answers TRYAGAIN, and the
server 503 "not applied", until the move ends.
In a settled slot the command costs one call that finds nothing: 0.7 % of a create's Redis
instructions (bench/script_cost.py, 775k without it, 781k with it).

Redis reports an error in a script by its line in the assembled text ("user_script:123");
`Script.explain` turns that into the file and line it came from.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

Mode = Literal["change", "read"]
INCLUDES: Final = "includes"
# What every change script includes (its wrapper uses them).
CHANGE_INCLUDES: Final = ("versions", "events")

_INCLUDE = re.compile(r'^--- @include "([a-z_]+)"$', re.MULTILINE)
_ERROR_LINE = re.compile(r"user_script:(\d+)")

_CONFIG = "local PUBLISH_COMMAND, HOLD_EVENTS = '{publish}', {hold}\n"
# Two keys, not one: a node importing the slot serves a lone missing key (behind ASKING).
# After the tenant's prefix; nothing writes them (no key of storage/keys.py ends so).
SLOT_GUARD_KEYS: Final = ("slot-guard:1", "slot-guard:2")
# Its refusal is answered as TRYAGAIN (not applied): a "non local key" error from any later
# command would come after writes, and stays an error of its own.
_SLOT_GUARD = f"""\
local slot_guard = redis.pcall('EXISTS', PREFIX .. '{SLOT_GUARD_KEYS[0]}', PREFIX .. '{SLOT_GUARD_KEYS[1]}')
if type(slot_guard) == 'table' and slot_guard.err then
  return redis.error_reply('TRYAGAIN the slot of the tenant is being moved: ' .. slot_guard.err)
end
"""
_OWN = """\
local function own_list(list, first, last)
  local out = {}
  for i = first, last do out[#out + 1] = list[i] end
  return out
end
local function fail(code, message) return {code, message} end
"""
_READ_ARGS = """\
local PREFIX, NOW_MS, NOW_ISO = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local ARGV = own_list(ARGV, 4, #ARGV)
"""
_CHANGE_ARGS = """\
local PREFIX, NOW_MS, NOW_ISO, NOW_MS_TEXT = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[2]
local REQUEST_PRINT = #ARGV[4] > 1 and ARGV[4] or nil
local PRINT_KEY = REQUEST_PRINT and KEYS[#KEYS] or nil
local REQUEST_KEY = ARGV[4] ~= '' and KEYS[#KEYS - (PRINT_KEY and 1 or 0)] or nil
local BUSY_GUARD = ARGV[5]
local KEYS = own_list(KEYS, 1, #KEYS - (REQUEST_KEY and 1 or 0) - (PRINT_KEY and 1 or 0))
local ARGV = own_list(ARGV, 6, #ARGV)
"""
_CHANGE_PROLOGUE = """\
if REQUEST_KEY then
  local earlier = redis.call('GET', REQUEST_KEY)
  if earlier then
    local first = PRINT_KEY and redis.call('GET', PRINT_KEY)
    if first and REQUEST_PRINT and first ~= REQUEST_PRINT then
      return {400, '`event.id` was given to a different request in the last 10 minutes: a retry'
        .. ' repeats its request unchanged, and a new request needs an id of its own'}
    end
    redis.call('EXPIRE', REQUEST_KEY, '600')
    if first then redis.call('EXPIRE', PRINT_KEY, '600') end
    -- JSON ("[..."), or MessagePack from a later release (after a rollback).
    if string.byte(earlier, 1) == 91 then return cjson.decode(earlier) end
    return cmsgpack.unpack(earlier)
  end
end
if BUSY_GUARD ~= '' then
  for uid, version in pairs(cjson.decode(BUSY_GUARD)) do
    if (redis.call('HGET', k_busy_versions(), uid) or '0') ~= version then
      return {298, 'the busy time of ' .. uid .. ' changed since it was checked'}
    end
  end
end
local function run_body()
"""
_CHANGE_EPILOGUE = """
end
local result = run_body()
finish()
if result[1] == 0 then
  if HOLD_EVENTS then result[#result + 1] = LAST_EVENT_ID or '' end
  if REQUEST_KEY then redis.call('SET', REQUEST_KEY, cjson.encode(result), 'EX', '600') end
  if PRINT_KEY then redis.call('SET', PRINT_KEY, REQUEST_PRINT, 'EX', '600') end
end
return result
"""


def lua_dir() -> Path:
    """Where the Lua files are: inside the installed wheel, or at the top of a checkout."""
    here = Path(__file__).resolve()
    package = here.parents[2]
    for candidate in (package / "lua", package.parent / "lua"):
        if (candidate / INCLUDES).is_dir():
            return candidate
    raise FileNotFoundError(f"no lua/ folder with {INCLUDES}/ next to {package}")


@dataclass(frozen=True, slots=True)
class Header:
    """What a script's header block declares: its mode, its KEYS (`keys` of them, or at
    least `keys` when `more_keys`), its own ARGV, and the codes it returns."""

    mode: Mode
    keys: int
    more_keys: bool  # KEYS[i..]: any number from i on
    argv: frozenset[int]  # each ARGV[i] and each i of ARGV[i..j]
    argv_tail: int | None  # ARGV[i..]: a list of any length from i on
    codes: frozenset[int]

    @classmethod
    def parse(cls, source: str) -> Header:
        block = source.split("]]", 1)[0] if source.startswith("--[[") else ""
        mode = re.search(r"^\s*Mode: (change|read)\b", block, re.MULTILINE)
        if mode is None:
            raise ValueError("the header has no `Mode: change` or `Mode: read` line")
        keys = {int(i) for i in re.findall(r"KEYS\[(\d+)\]", block)}
        key_tails = [int(i) for i in re.findall(r"KEYS\[(\d+)\.\.\]", block)]
        if not keys and not key_tails:
            raise ValueError(
                "the header names no KEYS (every script takes at least one: a cluster routes by it)"
            )
        if key_tails and (len(key_tails) > 1 or min(key_tails) != len(keys) + 1):
            raise ValueError("KEYS[i..] must follow the fixed KEYS, once")
        if keys != set(range(1, len(keys) + 1)):
            raise ValueError(f"KEYS declared are not 1..n: {sorted(keys)}")
        argv = {int(i) for i in re.findall(r"ARGV\[(\d+)\]", block)}
        for first, last in re.findall(r"ARGV\[(\d+)\.\.(\d+)\]", block):
            argv.update(range(int(first), int(last) + 1))
        tails = [int(i) for i in re.findall(r"ARGV\[(\d+)\.\.\]", block)]
        returns = block.partition("Returns:")[2]
        # `{0, ...} | {403|404, message} | {299, message}`: the leading numbers of each brace.
        groups = re.findall(r"\{\s*(\d+(?:\s*\|\s*\d+)*)\s*[,}]", returns)
        codes = {int(c) for group in groups for c in group.split("|")}
        if not returns or 0 not in codes:
            raise ValueError("the header has no Returns: line with code 0")
        return cls(
            mode="change" if mode.group(1) == "change" else "read",
            keys=len(keys) if keys else min(key_tails) - 1,
            more_keys=bool(key_tails),
            argv=frozenset(argv),
            argv_tail=min(tails) if tails else None,
            codes=frozenset(codes),
        )

    def check_keys(self, name: str, given: int) -> None:
        """Raises ValueError when a caller passes other KEYS than the header declares."""
        if given == self.keys if not self.more_keys else given > self.keys:
            return
        wanted = f"at least {self.keys + 1}" if self.more_keys else str(self.keys)
        raise ValueError(f"lua/{name}.lua takes {wanted} KEYS, given {given}")


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What is compiled into the scripts: whether they run on a cluster (sharded pub/sub,
    the slot guard), and whether events are held until replicas have the change (see the
    module docstring)."""

    cluster: bool = False
    hold_events: bool = False

    @property
    def publish(self) -> Literal["PUBLISH", "SPUBLISH"]:
        return "SPUBLISH" if self.cluster else "PUBLISH"


@dataclass(frozen=True, slots=True)
class Segment:
    """Lines `first`..`first + count - 1` of the assembled text are lines `at`.. of `path`."""

    first: int
    count: int
    path: str
    at: int


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: bytes
    sha: str
    header: Header | None = None  # None for ad hoc scripts (tests, bench) outside lua/
    segments: tuple[Segment, ...] = ()
    options: LoadOptions = field(default_factory=LoadOptions)

    @classmethod
    def from_source(cls, name: str, source: bytes, header: Header | None = None) -> Script:
        return cls(name=name, source=source, sha=hashlib.sha1(source).hexdigest(), header=header)

    def explain(self, message: str) -> str:
        """An error message of Redis with each `user_script:N` told as `lua/<file>:<line>`."""

        def where(match: re.Match[str]) -> str:
            line = int(match.group(1))
            for segment in self.segments:
                if segment.first <= line < segment.first + segment.count:
                    return f"{segment.path}:{segment.at + line - segment.first} ({match.group(0)})"
            return match.group(0)

        return _ERROR_LINE.sub(where, message)


class _Assembly:
    """The text of one script being put together, with where each line came from."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parts: list[str] = []
        self.segments: list[Segment] = []
        self.line = 1
        self.included: set[str] = set()

    def add(self, text: str, path: str = "(loader)", at: int = 1) -> None:
        if not text.endswith("\n"):
            text += "\n"
        count = text.count("\n")
        self.parts.append(text)
        self.segments.append(Segment(self.line, count, path, at))
        self.line += count

    def include(self, name: str, chain: tuple[str, ...] = ()) -> None:
        if name in self.included:
            return
        if name in chain:
            raise ValueError(f"includes form a cycle: {' -> '.join((*chain, name))}")
        path = self.folder / INCLUDES / f"{name}.lua"
        if not path.is_file():
            raise ValueError(f'--- @include "{name}": no {INCLUDES}/{name}.lua')
        text = path.read_text()
        for needed in _INCLUDE.findall(text):
            self.include(needed, (*chain, name))
        self.included.add(name)
        self.add(text, f"lua/{INCLUDES}/{name}.lua")

    def text(self) -> bytes:
        return "".join(self.parts).encode()


def assemble(path: Path, options: LoadOptions = LoadOptions()) -> Script:
    """One script of `lua/`, wrapped for its mode, with its includes. Raises ValueError
    for a header that is not one, or an include that cannot be found."""
    source = path.read_text()
    try:
        header = Header.parse(source)
    except ValueError as exc:
        raise ValueError(f"lua/{path.name}: {exc}") from None
    build = _Assembly(path.parent)
    build.add(_CONFIG.format(publish=options.publish, hold="true" if options.hold_events else "false"))
    build.add(_OWN)
    build.add(_CHANGE_ARGS if header.mode == "change" else _READ_ARGS)
    if options.cluster:
        build.add(_SLOT_GUARD)
    try:
        for name in (*(CHANGE_INCLUDES if header.mode == "change" else ()), *_INCLUDE.findall(source)):
            build.include(name)
    except ValueError as exc:
        raise ValueError(f"lua/{path.name}: {exc}") from None
    if header.mode == "change":
        build.add(_CHANGE_PROLOGUE)
        build.add(source, f"lua/{path.name}")
        build.add(_CHANGE_EPILOGUE)
    else:
        build.add(source, f"lua/{path.name}")
    text = build.text()
    return Script(path.stem, text, hashlib.sha1(text).hexdigest(), header, tuple(build.segments), options)


def load_scripts(folder: Path | None = None, options: LoadOptions = LoadOptions()) -> dict[str, Script]:
    """Every `lua/*.lua`, keyed by file name without `.lua`."""
    folder = folder or lua_dir()
    return {path.stem: assemble(path, options) for path in sorted(folder.glob("*.lua"))}
