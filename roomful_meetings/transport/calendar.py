"""GET / HEAD /calendar/<token>.ics on the HTTP port (contract 11): the rate limit per
token, the conditional request (ETag, If-None-Match -> 304) and the answer's headers. The
feed itself is made by service/feeds.py.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from roomful_meetings.domain.ratelimit import TokenBucket
from roomful_meetings.service.connection import ServiceUnavailable
from roomful_meetings.service.feeds import FeedText

# Calendar apps poll every few minutes at most; a burst covers a user's few devices
# subscribing at once. Buckets are per instance and per token (the newest TRACKED kept).
FEED_RATE: Final = 1 / 6  # fetches per second, sustained
FEED_BURST: Final = 10
TRACKED: Final = 10_000
# /calendar/[<tenant>.]<token>.ics (service/feeds.py)
PATH: Final = re.compile(rb"/calendar/((?:[A-Za-z0-9_-]{1,64}\.)?[A-Za-z0-9_-]{16,128})\.ics")
CONTENT_TYPE: Final = "text/calendar; charset=utf-8"

Render = Callable[[str], Awaitable[FeedText | None]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: str
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


NOT_FOUND: Final = Answer("404 Not Found", "text/plain", b"not found\n")
# Calendar apps retry on their own schedule; Retry-After tells those that read it.
UNAVAILABLE: Final = Answer(
    "503 Service Unavailable", "text/plain", b"storage unavailable, retry later\n", (("Retry-After", "5"),)
)


@dataclass
class FeedLimiter:
    """A token bucket per feed token, the least recently used forgotten beyond TRACKED."""

    rate: float = FEED_RATE
    burst: int = FEED_BURST
    buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict)

    def retry_after(self, token: str, now: float) -> int:
        """0 when the fetch may go ahead (and is counted), else the seconds to wait."""
        bucket = self.buckets.pop(token, None) or TokenBucket(self.rate, self.burst, now)
        self.buckets[token] = bucket
        while len(self.buckets) > TRACKED:
            self.buckets.popitem(last=False)
        if bucket.take(now):
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))


def feed_token(path: bytes) -> str | None:
    match = PATH.fullmatch(path)
    return match[1].decode() if match else None


async def answer_feed(
    token: str, if_none_match: bytes | None, render: Render, limiter: FeedLimiter, now: float
) -> Answer:
    """The answer to a GET of one feed (the caller drops the body for HEAD). The limit is
    checked before the lookup, so a limited fetch says nothing of whether the token exists."""
    wait = limiter.retry_after(token, now)
    if wait:
        return Answer(
            "429 Too Many Requests", "text/plain", b"too many requests\n", (("Retry-After", str(wait)),)
        )
    try:
        feed = await render(token)
    except ServiceUnavailable:
        return UNAVAILABLE
    if feed is None:
        return NOT_FOUND
    headers = (("ETag", feed.etag), ("Cache-Control", "private, max-age=300"))
    if if_none_match is not None and _matches(if_none_match, feed.etag):
        return Answer("304 Not Modified", CONTENT_TYPE, b"", headers)
    return Answer("200 OK", CONTENT_TYPE, feed.body, headers)


def _matches(header: bytes, etag: str) -> bool:
    """If-None-Match names this ETag, or `*` (weak tags compare as strong: RFC 9110 13.1.2)."""
    tags = {t.strip().removeprefix(b"W/") for t in header.split(b",")}
    return b"*" in tags or etag.encode() in tags
