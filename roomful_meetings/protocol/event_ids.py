"""Event ids as the wire carries them: Redis stream ids, "<ms>-<seq>".

Clients treat them as opaque and hand them back in `since=`, so whatever comes back is
untrusted text. Redis stream ids are two unsigned 64-bit integers; anything else (Unicode
digits, which `str.isdigit` accepts, a part too long for 64 bits, signs, spaces) would make
Redis refuse the command, so it is recognised here, before any Redis call, as unknown.
"""

from __future__ import annotations

import re
from typing import Final

MAX_PART: Final = 2**64 - 1  # each part of a Redis stream id is an unsigned 64-bit integer
# ASCII digits only (re.ASCII: `\d` would match any Unicode digit), at most 20 of them each
# (the length of MAX_PART), and nothing after: \Z, since `$` also matches before a final "\n".
_EVENT_ID: Final = re.compile(r"([0-9]{1,20})-([0-9]{1,20})\Z", re.ASCII)


def parse_event_id(text: str) -> tuple[int, int] | None:
    """The (ms, seq) of an event id, or None when `text` is not one Redis could take."""
    match = _EVENT_ID.match(text)
    if match is None:
        return None
    ms, seq = int(match[1]), int(match[2])
    if ms > MAX_PART or seq > MAX_PART:
        return None
    return ms, seq


SEQ_SPAN: Final = 2**20  # lua/includes/events.lua: seq = the tenant's code * SEQ_SPAN + n


def may_be_of(parsed: tuple[int, int], code: int) -> bool:
    """Whether a parsed id can be one that the tenant of `code` (Keys.event_code) handed
    out: one carrying that code, or one from before ids carried codes (seq below SEQ_SPAN)."""
    owner = parsed[1] // SEQ_SPAN
    return owner == code or owner == 0


def is_later(event_id: str, than: str | None) -> bool:
    """Whether `event_id` comes after `than` (None or "": before every id). A client moves
    its `since` only forward: a legacy=1 connection's deprecated twin of an event can
    arrive after a later event."""
    if not than:
        return True
    mine, theirs = parse_event_id(event_id), parse_event_id(than)
    return mine is not None and (theirs is None or mine > theirs)
