"""Lua scripts as files: read once, SHA computed locally, EVALSHA with one NOSCRIPT retry.

Every script in `lua/` is prefixed with `lua/_lib.lua` (helpers for key names, event ids and
fan-out) before its SHA is taken, so a script file stays short and readable while Redis
still sees one self-contained script.

Every script body is also wrapped for safe retries: when its last KEY is a request key
(`<prefix>req:...`), a result stored there is returned without running the body again, and
a successful result is stored there for 10 minutes, in the same atomic step as the change.

A change checked for conflicts (rejectConflicts, contract 10) carries one more KEY before
the request key: `<prefix>guard:<JSON {userId: busy version}>`, the versions its check
read. The body runs only when every one is still current; else the script answers 298
(nothing written) and the check is made again. The name holds the prefix, so it lands on
the same shard as the rest; nothing is ever stored under it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

LIBRARY_NAME = "_lib.lua"

RETRY_PROLOGUE = b"""
local REQUEST_KEY = nil
if #KEYS > 0 and string.sub(KEYS[#KEYS], 1, #PREFIX + 4) == PREFIX .. 'req:' then
  REQUEST_KEY = KEYS[#KEYS]
end
if REQUEST_KEY then
  local earlier = redis.call('GET', REQUEST_KEY)
  if earlier then return cjson.decode(earlier) end
end
local guard = KEYS[#KEYS - (REQUEST_KEY and 1 or 0)]
if guard and string.sub(guard, 1, #PREFIX + 6) == PREFIX .. 'guard:' then
  local expected = cjson.decode(string.sub(guard, #PREFIX + 7))
  for uid, version in pairs(expected) do
    if (redis.call('HGET', PREFIX .. 'busyversions', uid) or '0') ~= version then
      return {298, 'the busy time of ' .. uid .. ' changed since it was checked'}
    end
  end
end
local function run_body()
"""
RETRY_EPILOGUE = b"""
end
local result = run_body()
finish()
if REQUEST_KEY and result[1] == 0 then redis.call('SET', REQUEST_KEY, cjson.encode(result), 'EX', 600) end
return result
"""


def lua_dir() -> Path:
    """Where the Lua files are: inside the installed wheel, or at the top of a checkout."""
    here = Path(__file__).resolve()
    package = here.parents[2]
    for candidate in (package / "lua", package.parent / "lua"):
        if (candidate / LIBRARY_NAME).is_file():
            return candidate
    raise FileNotFoundError(f"no lua/ folder with {LIBRARY_NAME} next to {package}")


@dataclass(frozen=True, slots=True)
class Header:
    """What a script's header block declares: its KEYS, its own ARGV (from 4 on: 1-3 are
    the library's), and the codes it returns."""

    keys: int
    argv: frozenset[int]  # each ARGV[i] and each i of ARGV[i..j]
    argv_tail: int | None  # ARGV[i..]: a list of any length from i on
    codes: frozenset[int]

    @classmethod
    def parse(cls, source: str) -> Header:
        block = source.split("]]", 1)[0] if source.startswith("--[[") else ""
        keys = {int(i) for i in re.findall(r"KEYS\[(\d+)\]", block)}
        if not keys and "KEYS: none" not in block:
            raise ValueError("the header names no KEYS[i] and does not say KEYS: none")
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
        return cls(len(keys), frozenset(argv), min(tails) if tails else None, frozenset(codes))


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: bytes
    sha: str
    header: Header | None = None  # None for ad hoc scripts (tests, bench) outside lua/

    @classmethod
    def from_source(cls, name: str, source: bytes, header: Header | None = None) -> Script:
        return cls(name=name, source=source, sha=hashlib.sha1(source).hexdigest(), header=header)


def load_scripts(folder: Path | None = None) -> dict[str, Script]:
    """Every `lua/*.lua` but the library, keyed by file name without `.lua`."""
    folder = folder or lua_dir()
    library = (folder / LIBRARY_NAME).read_bytes()
    scripts = {}
    for path in sorted(folder.glob("*.lua")):
        if path.name == LIBRARY_NAME:
            continue
        body = path.read_bytes()
        try:
            header = Header.parse(body.decode())
        except ValueError as exc:
            raise ValueError(f"lua/{path.name}: {exc}") from None
        scripts[path.stem] = Script.from_source(
            path.stem, library + RETRY_PROLOGUE + body + RETRY_EPILOGUE, header
        )
    return scripts
