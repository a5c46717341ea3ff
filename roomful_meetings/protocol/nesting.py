"""How deeply a frame's JSON nests, checked before it is decoded.

msgspec (like every recursive decoder) gives up on deep nesting with a RecursionError
whose threshold is what is left of the Python stack, so it depends on where it is called:
about 1000 levels in a test, fewer inside a connection's task. A frame nested too deeply
must still get a 400, and values that pass (the free-form `customParams`) must be safe to
encode again and to hand to Lua's cjson later. So nesting has an explicit bound, far below
either limit and far above any real payload (a room's thumbnail is about 8 levels deep).
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Final

MAX_NESTING: Final = 64  # arrays and objects inside one another, the frame itself included

# A JSON string (brackets inside it do not count), written as the unrolled loop so that
# the regex engine walks long strings without backtracking.
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS: Final = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEP: Final = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1


def nesting_depth(frame: bytes) -> int:
    """The deepest nesting of arrays and objects in `frame` (0 for a scalar).

    Runs at C speed (regex, translate, accumulate): strings are dropped, then only the
    brackets are kept and their running depth taken. On malformed JSON the answer is
    approximate, which is harmless: the decoder rejects such a frame anyway."""
    brackets = _STRING.sub(b"", frame).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def too_deep(frame: str | bytes, limit: int = MAX_NESTING) -> bool:
    """Whether `frame` nests deeper than `limit`. Most frames hold fewer brackets than
    the limit in all, which settles it without a scan (or an encoded copy)."""
    if isinstance(frame, str):
        if frame.count("[") + frame.count("{") <= limit:
            return False
        frame = frame.encode(errors="surrogatepass")  # a str from a socket is valid UTF-8 anyway
    if frame.count(b"[") + frame.count(b"{") <= limit:
        return False
    return nesting_depth(frame) > limit
