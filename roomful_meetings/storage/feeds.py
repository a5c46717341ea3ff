"""Calendar feeds (contract 11): a user's nonce and token hash, hash -> user, and what a
feed reads.

The token is derived from the nonce by the service (service/feeds.py) and never stored;
lookups go by its SHA-256, so a fetch with an unknown token is one GET of a missing key,
whether or not the user behind a similar token exists.

A feed reads the owner's single meetings as list_user_meetings.lua selects them, but as
their hashes (`singles`): composing 500 meetings' JSON in Lua, only for the feed to decode
it again, cost Redis 30 ms a feed on the bench machine, and HGETALL costs it 5.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

import msgspec

from roomful_meetings.domain.ical import Single
from roomful_meetings.domain.meetings import MAX_MEETING_MINUTES
from roomful_meetings.storage.base import NO_WRITE, Store, Write
from roomful_meetings.storage.redis import Command

# The stored JSON values (`j:<name>`) a feed shows, in Single's order, decoded in one go.
_SHOWN: Final = tuple(
    b"j:" + name
    for name in (b"meetingId", b"created", b"updated", b"subject", b"description", b"organizerId")
)
_shown = msgspec.json.Decoder(tuple[str, str, str, str, str | None, str])
_pids = msgspec.json.Decoder(list[str])
_text = msgspec.json.Decoder(str)
_STATUSES: Final = {b"received": "received", b"accepted": "accepted", b"declined": "declined"}


class FeedStore(Store):
    async def issue(self, user_id: str, nonce: str, token_hash: str, *, write: Write = NO_WRITE) -> str:
        """Store `nonce` unless the user has a feed; the nonce in effect."""
        keys = [self.keys.user_feed(user_id), self.keys.feed_token(token_hash)]
        (current,) = await self.run("issue_calendar_feed", keys, [user_id, nonce, token_hash], write=write)
        return bytes(current).decode()

    async def reset(self, user_id: str, nonce: str, token_hash: str, *, write: Write = NO_WRITE) -> str:
        """Replace the user's token (the old hash key goes in the same step); the new nonce
        (on a safe retry, the one the first attempt stored)."""
        keys = [self.keys.user_feed(user_id), self.keys.feed_token(token_hash)]
        (current,) = await self.run("reset_calendar_feed", keys, [user_id, nonce, token_hash], write=write)
        return bytes(current).decode()

    async def owner(self, token_hash: str) -> str | None:
        """The user a token hash belongs to, or None."""
        found = await self.redis.execute("GET", self.keys.feed_token(token_hash))
        return bytes(found).decode() if found else None

    async def people(self, user_ids: list[str]) -> dict[str, tuple[str, str, str]]:
        """(first name, last name, email) of each user id that has a profile (one pipeline)."""
        commands: list[Command] = [
            ("HMGET", self.keys.user(uid), "id", "firstName", "lastName", "email") for uid in user_ids
        ]
        replies = await self.pipeline(commands) if commands else []
        out: dict[str, tuple[str, str, str]] = {}
        for uid, (found, first, last, email) in zip(user_ids, replies, strict=True):
            if found is not None:
                texts = [bytes(v).decode() if v else "" for v in (first, last, email)]
                out[uid] = (texts[0], texts[1], texts[2])
        return out

    async def place_titles(self, sources: list[str]) -> dict[str, str]:
        """The title of each `room:<id>` / `prop:<room>:<id>` source string that has one."""
        keys = {}
        for text in sources:
            kind, _, rest = text.partition(":")
            if kind == "room":
                keys[text] = self.keys.room(rest)
            elif kind == "prop":
                room, _, pid = rest.partition(":")
                keys[text] = self.keys.prop(room, pid)
        commands: list[Command] = [("HGET", key, "title") for key in keys.values()]
        replies = await self.pipeline(commands) if commands else []
        return {text: bytes(title).decode() for text, title in zip(keys, replies, strict=True) if title}

    async def singles(self, user_id: str, low: int, high: int, limit: int) -> list[StoredSingle]:
        """The user's single meetings overlapping [low, high), ordered by start, at most
        `limit`: list_user_meetings.lua's selection (unfiltered), each meeting read whole
        with its statuses (one pipeline after the index read). A meeting deleted or moved
        out of the range between the two reads is left out, one moved in is not seen: the
        feed shows each meeting as it was before or after the change, never half of it."""
        index = self.keys.user_meetings(user_id)
        mids = await self.redis.execute("ZRANGEBYSCORE", index, low - MAX_MEETING_MINUTES, f"({high}")
        replies = await self.pipeline([("HGETALL", self.keys.meeting(bytes(mid).decode())) for mid in mids])
        out: list[StoredSingle] = []
        for reply in replies:
            if not reply:
                continue  # deleted since the index read
            # The reply's content, exactly (the lengths place every separator), hashed as
            # two objects rather than as 50.
            key = (b"\0".join(reply), tuple(map(len, reply)))
            meeting = _ROWS.pop(key, None)
            if meeting is None:
                meeting = StoredSingle(key, reply)
            _ROWS[key] = meeting
            if meeting.end <= low or meeting.start >= high:
                continue  # moved out since the index read
            if len(out) == limit:
                break
            out.append(meeting)
        while len(_ROWS) > ROWS_KEPT:
            _ROWS.popitem(last=False)
        return out


Content = tuple[bytes, tuple[int, ...]]  # a hash as read: its fields and values joined, their lengths


class StoredSingle:
    """A single meeting's hash as read, what the feed needs of it every time (its times,
    participants and source), and the rest decoded only when its text is not kept
    (domain/ical.py SingleSource). `singles` hands out one object per content of the hash
    (_ROWS), so the object itself is the key of its text."""

    __slots__ = ("_content", "_fields", "end", "participant_ids", "source", "start")

    def __init__(self, content: Content, reply: list[bytes]) -> None:
        self._content = content
        pairs = iter(reply)
        fields = dict(zip(pairs, pairs, strict=True))
        self._fields: dict[bytes, bytes] | None = fields  # until decoded
        self.start, self.end = int(fields[b"start"]), int(fields[b"end"])
        self.participant_ids = _pids.decode(fields[b"pids"])  # organizer first
        self.source = _text.decode(fields[b"j:sourceString"])

    @property
    def key(self) -> StoredSingle:
        return self

    def decode(self) -> Single:
        """As the feed shows it: what the meeting's JSON holds (lua/includes/meeting_json.lua meeting_json),
        statuses by the same rule (the organizer has accepted, no status is received)."""
        fields = self._fields or _split(self._content)
        self._fields = None  # a kept meeting keeps only its content
        values = b",".join([fields[name] for name in _SHOWN])
        mid, created, updated, subject, description, organizer = _shown.decode(b"[" + values + b"]")
        org, get = fields[b"org"].decode(), fields.get
        statuses = []
        for uid in self.participant_ids:
            if uid == org:
                status = "accepted"
            elif (raw := get(b"s:" + uid.encode())) is None:
                status = "received"
            else:
                status = _STATUSES.get(raw) or raw.decode()
            statuses.append((uid, status))
        shown = (mid, created, updated, subject, description or "", self.source, self.start, self.end)
        return Single(*shown, organizer, tuple(statuses))


def _split(content: Content) -> dict[bytes, bytes]:
    """The fields of a hash from its content (a kept meeting decoded again)."""
    joined, lengths = content
    items, at = [], 0
    for length in lengths:
        items.append(joined[at : at + length])
        at += length + 1
    pairs = iter(items)
    return dict(zip(pairs, pairs, strict=True))


# What was read of each meeting hash, by its content: a fetch of a feed whose meetings did
# not change decodes nothing again (its VEVENT texts are kept too, domain/ical.py).
_ROWS: OrderedDict[Content, StoredSingle] = OrderedDict()
ROWS_KEPT: Final = 50_000


def forget_rows() -> None:
    """Drop what was read (benchmarks of a fresh instance)."""
    _ROWS.clear()
