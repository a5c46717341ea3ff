"""What the service layer does for a connection outside its requests: the profile upsert
when it opens, the events it missed, and the one error transport sees for a storage outage.

Transport depends on the service layer only: it never sees a Redis error, only
ServiceUnavailable (nothing was done, or the outcome is unknown; retry later).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from roomful_meetings.auth import Identity
from roomful_meetings.service.admin import profile_from_claims
from roomful_meetings.service.context import Services
from roomful_meetings.storage.base import Write
from roomful_meetings.storage.redis import RedisError

UNREPLICATED = Write(replicated=False)


class ServiceUnavailable(Exception):
    """Storage could not be reached; the caller should refuse or retry later."""


@contextmanager
def storage_guard() -> Iterator[None]:
    """Turn a storage error raised in the block into ServiceUnavailable."""
    try:
        yield
    except RedisError as exc:
        raise ServiceUnavailable(str(exc)) from exc


async def on_connect(services: Services, identity: Identity) -> None:
    """Upsert the directory entry from the token's profile claims (absent claims keep).

    Raises ServiceUnavailable when storage is unreachable.
    """
    profile = profile_from_claims(
        identity.user_id, identity.email, identity.given_name, identity.family_name, identity.zoneinfo
    )
    with storage_guard():  # with lagging replicas too: the next connection writes it again
        await services.catalog.upsert_users([profile], write=UNREPLICATED)


async def missed_events(
    services: Services, user_id: str, since: str, *, max_age_ms: int, now_ms: int, from_nothing: bool = False
) -> tuple[bool, list[tuple[str, bytes]]]:
    """The user's events after `since` (events.since). Raises ServiceUnavailable."""
    with storage_guard():
        return await services.events.since(
            user_id, since, max_age_ms=max_age_ms, now_ms=now_ms, from_nothing=from_nothing
        )
