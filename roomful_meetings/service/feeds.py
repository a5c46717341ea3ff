"""Calendar feeds and invitations (contract 11): meeting:getCalendarFeed,
meeting:resetCalendarFeed, meeting:exportMeeting, and the feed text the HTTP listener serves.

A feed token is HMAC-SHA256(feed key, tenant + user id + nonce), base64url: the nonce (256
random bits, `secrets.token_urlsafe`) is stored, the token never is, only its SHA-256 (the
key a fetch looks up). So every instance that shares the feed secret hands out the same URL
until a reset stores a new nonce, and a copy of Redis alone opens no feed. A token of a
tenant other than `default` starts with the tenant's name and a dot (`acme.Xy3...`), the
only way a fetch, which carries nothing else, can tell whose keys to look in; the default
tenant's tokens have no such part, and are the same as before tenants existed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from roomful_meetings.auth import TENANT, load_or_create_secret, resolve_secret
from roomful_meetings.config import Settings
from roomful_meetings.domain import ical
from roomful_meetings.domain.instances import SeriesState
from roomful_meetings.domain.recurrence import parse_instance_id
from roomful_meetings.domain.time import to_minute
from roomful_meetings.errors import Unavailable
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.replies import FeedUrlReply, IcsReply
from roomful_meetings.service import series
from roomful_meetings.service.connection import ServiceUnavailable
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.registry import Routes
from roomful_meetings.service.tenants import Tenants
from roomful_meetings.storage.feeds import StoredSingle, forget_rows
from roomful_meetings.storage.keys import DEFAULT_TENANT
from roomful_meetings.storage.redis import RedisConnectionLost, RedisUnavailable
from roomful_meetings.storage.redis.inline import side_by_side

routes = Routes()  # this module's endpoints (service/endpoints.py lists the tables)

FEED_PAST_DAYS: Final = 31
FEED_AHEAD_DAYS: Final = 366
FEED_MAX_MEETINGS: Final = 5000  # single meetings in one feed (series count as one each)
FEED_SECRET_FILE: Final = "feed-secret"  # used only without --feed-secret and an HS256 secret


@functools.cache
def feed_key(settings: Settings) -> bytes:
    """The HMAC key of feed tokens: from --feed-secret, else the HS256 JWT secret (both
    shared by every instance), else a secret generated in the data folder. Derived, so the
    JWT secret itself never signs anything but tokens."""
    secret = settings.feed_secret or resolve_secret(settings)
    if not secret:
        secret = load_or_create_secret(settings.data_dir, FEED_SECRET_FILE)
    return hashlib.sha256(b"roomful calendar feed\0" + secret.encode()).digest()


def feed_token(key: bytes, tenant: str, user_id: str, nonce: str) -> str:
    if tenant == DEFAULT_TENANT:
        return _mac(key, f"{user_id}\0{nonce}")
    mac = _mac(key, f"{tenant}\0{user_id}\0{nonce}")
    return f"{tenant}.{mac}"


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def tenant_of(token: str) -> str | None:
    """The tenant a feed token belongs to, None when its tenant part is not a name."""
    tenant, dot, _ = token.rpartition(".")
    if not dot:
        return DEFAULT_TENANT
    return tenant if TENANT.fullmatch(tenant) else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


WILDCARD_HOSTS: Final = ("", "0.0.0.0", "::")  # every address: not one a client can reach


def public_base(settings: Settings) -> str:
    """--public-base-url, else the HTTP listener's own address."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    if not settings.http_port:
        raise Unavailable(
            "calendar feeds need --http-port (or --public-base-url naming an instance that has one)"
        )
    if settings.host in WILDCARD_HOSTS:  # http://0.0.0.0:9765/... reaches no one else
        raise Unavailable("calendar feeds need --public-base-url when --host listens on every address")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.http_port}"


def uid_domain(settings: Settings) -> str:
    """The right-hand side of every UID: the public host, so two deployments never clash."""
    try:
        return urlsplit(public_base(settings)).hostname or "roomful.invalid"
    except Unavailable:
        return "roomful.invalid"


def feed_url(settings: Settings, caller: Caller, nonce: str) -> FeedUrlReply:
    token = feed_token(feed_key(settings), caller.tenant, caller.user_id, nonce)
    return FeedUrlReply(url=f"{public_base(settings)}/calendar/{token}.ics")


def _new_nonce(settings: Settings, caller: Caller) -> tuple[str, str]:
    nonce = secrets.token_urlsafe(32)
    return nonce, token_hash(feed_token(feed_key(settings), caller.tenant, caller.user_id, nonce))


@routes.endpoint(
    "meeting:getCalendarFeed", p.Empty, "The caller's secret iCalendar feed URL (the same until reset)"
)
async def get_calendar_feed(services: Services, caller: Caller, data: p.Empty) -> FeedUrlReply:
    public_base(services.settings)  # refuse before storing anything when no URL can be made
    nonce = await services.meetings.feeds.issue(caller.user_id, *_new_nonce(services.settings, caller))
    return feed_url(services.settings, caller, nonce)


@routes.endpoint(
    "meeting:resetCalendarFeed",
    p.Empty,
    "A new secret feed URL; the old one answers 404 at once",
    changes=True,
)
async def reset_calendar_feed(services: Services, caller: Caller, data: p.Empty) -> FeedUrlReply:
    public_base(services.settings)
    nonce = await services.meetings.feeds.reset(
        caller.user_id, *_new_nonce(services.settings, caller), write=caller.write
    )
    return feed_url(services.settings, caller, nonce)


# --- the feed ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedText:
    body: bytes
    etag: str  # changes exactly when the body does, DTSTAMP aside


def forget_kept() -> None:
    """Drop what this instance keeps of feeds (meetings as read, their VEVENT texts): the
    next fetch costs what a fresh instance's does (bench/feed.py)."""
    ical.forget_written()
    forget_rows()


def etag(body: bytes, now: datetime) -> str:
    return '"' + ical.content_digest(body, now)[:32] + '"'


async def directory(services: Services, named: list[tuple[list[str], str]]) -> ical.Directory:
    """The people and places that meetings name, given as (participantIds, sourceString)
    (two pipelined reads)."""
    uids = sorted({uid for ids, _ in named for uid in ids})
    profiles = await services.meetings.feeds.people(uids)
    people = {}
    for uid, (first, last, email) in profiles.items():
        people[uid] = ical.Person(uid, f"{first} {last}".strip() or uid, email)
    places = await services.meetings.feeds.place_titles(sorted({source for _, source in named}))
    return ical.Directory(people, places, uid_domain(services.settings))


def _named(meeting: Mapping[str, Any]) -> tuple[list[str], str]:
    return meeting["participantIds"], meeting["sourceString"]


async def render_tenant_feed(tenants: Tenants, token: str) -> FeedText | None:
    """The feed behind a token of any tenant (what the HTTP listener serves), or None.
    Raises ServiceUnavailable when storage cannot be reached (a failover, an outage)."""
    tenant = tenant_of(token)
    if tenant is None:
        return None
    try:
        return await render_feed(tenants.services(tenant, keep=False), token)
    except (RedisUnavailable, RedisConnectionLost) as exc:  # not a script's error: that is a bug
        raise ServiceUnavailable(str(exc)) from exc


async def render_feed(
    services: Services, token: str, now: float | None = None, *, with_icalendar: bool = False
) -> FeedText | None:
    """The feed behind a token, or None for a token no user has (now: seconds since the
    epoch; with_icalendar: written by the icalendar package, the tests' reference)."""
    owner = await services.meetings.feeds.owner(token_hash(token))
    if owner is None:
        return None
    now = time.time() if now is None else now
    minute = int(now // 60)
    low, high = minute - FEED_PAST_DAYS * 1440, minute + FEED_AHEAD_DAYS * 1440
    series: list[tuple[dict[str, Any], SeriesState]] = []

    singles: list[StoredSingle] = []

    async def read_series() -> None:
        series.extend(await services.meetings.series_for_user(owner, low, high))

    async def read_singles() -> None:
        singles.extend(await services.meetings.feeds.singles(owner, low, high, FEED_MAX_MEETINGS))

    # The series' script runs in Redis while this task decodes the single meetings (2 ms).
    await side_by_side(read_series, read_singles)
    people = await directory(
        services, [(m.participant_ids, m.source) for m in singles] + [_named(obj) for obj, _ in series]
    )
    stamp = datetime.fromtimestamp(int(now), UTC)
    body = ical.feed(singles, series, people, stamp, low, high, with_icalendar=with_icalendar)
    return FeedText(body, etag(body, stamp))


# --- one meeting as an invitation --------------------------------------------------------------


@routes.endpoint(
    "meeting:exportMeeting",
    p.MeetingRef,
    "One meeting, series or instance as an RFC 5546 invitation (participants)",
    large_answer=True,
)
async def export_meeting(services: Services, caller: Caller, data: p.MeetingRef) -> IcsReply:
    """A single meeting, a series (with its instances' own changes) or one instance, as an
    RFC 5546 REQUEST; 404 unless the caller takes part (as getMeeting)."""
    stamp = datetime.now(UTC).replace(microsecond=0)
    target = parse_instance_id(data.meetingId)
    if target is not None:
        obj, state, orig = await series.instance_state(services, caller, data.meetingId, whole=False)
        people = await directory(services, [_named(obj)])
        events = [ical.instance_event(obj, state, orig, people, stamp)]
        first = orig
    else:
        meeting = msgspec.json.decode(await services.meetings.get(data.meetingId, caller.user_id))
        if "recurrence" in meeting:
            obj, state = await services.meetings.series.get(data.meetingId, caller.user_id)
            people = await directory(services, [_named(obj)])
            # every instance with changes of its own, and clock changes for the next year
            own = [*state.overrides, *(orig for orig, _ in state.instance_statuses)]
            ahead = int(stamp.timestamp() // 60) + FEED_AHEAD_DAYS * 1440
            high = max([ahead, *(orig + state.series.length + 1 for orig in own)])
            events = ical.series_events(obj, state, people, stamp, state.series.start, high)
            first = state.series.start
        else:
            people = await directory(services, [_named(meeting)])
            events = [ical.single_event(ical.Single.from_meeting(meeting), people, stamp)]
            first = to_minute(datetime.fromisoformat(meeting["startDate"]), "startDate")
    return IcsReply(ics=ical.invitation(events, stamp, first).decode())
