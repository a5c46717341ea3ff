"""Calendar feed tokens (contract 11): a user's nonce and token hash, and hash -> user.

The token is derived from the nonce by the service (service/feeds.py) and never stored;
lookups go by its SHA-256, so a fetch with an unknown token is one GET of a missing key,
whether or not the user behind a similar token exists.
"""

from __future__ import annotations

from roomful_meetings.storage.base import NO_WRITE, Store, Write
from roomful_meetings.storage.redis import Command


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
