"""The stores of each tenant (contract 12), made when a tenant is first seen.

A tenant's stores differ from another's only in their keys (storage/keys.py: every key
carries the tenant as its hash tag), so nothing one tenant's request runs can name a key
of another. The in-process caches (decoded availability, busy indexes, findMeetingTimes'
states and replies) are the instance's, one set for every tenant (`Caches`), with the
tenant's scope in every key: versions count per tenant, so a key without it could take one
tenant's entry for another's. The stores of the tenants seen most recently are kept (a
connection keeps its own for as long as it lasts).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from roomful_meetings.config import Settings
from roomful_meetings.service.context import Services
from roomful_meetings.service.findcache import SearchCache
from roomful_meetings.storage.availability import AvailabilityCaches, AvailabilityStore
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.directory import DirectoryStore
from roomful_meetings.storage.events import EventStore
from roomful_meetings.storage.keys import DEFAULT_TENANT, Keys
from roomful_meetings.storage.meetings import MeetingStore
from roomful_meetings.storage.redis import Redis, Script

KEPT: Final = 256  # tenants whose stores (and caches) are kept between their connections


@dataclass(frozen=True, slots=True)
class Caches:
    """What an instance keeps between requests, for every tenant at once (each key holds
    the tenant's scope), so that memory does not grow with the number of tenants."""

    availability: AvailabilityCaches = field(default_factory=AvailabilityCaches)
    searches: SearchCache = field(default_factory=SearchCache)


def services_for(
    settings: Settings, redis: Redis, scripts: dict[str, Script], tenant: str, caches: Caches | None = None
) -> Services:
    keys = Keys(settings.key_prefix, tenant)
    caches = caches or Caches()
    return Services(
        settings=settings,
        keys=keys,
        catalog=CatalogStore(redis, scripts, keys),
        meetings=MeetingStore(redis, scripts, keys),
        events=EventStore(redis, scripts, keys),
        directory=DirectoryStore(redis, scripts, keys),
        availability=AvailabilityStore(redis, scripts, keys, caches.availability),
        searches=caches.searches,
    )


class Tenants:
    def __init__(self, settings: Settings, redis: Redis, scripts: dict[str, Script]) -> None:
        self.settings = settings
        self.redis = redis
        self.scripts = scripts
        self.caches = Caches()
        self._kept: OrderedDict[str, Services] = OrderedDict()

    @property
    def default(self) -> Services:
        return self.services(DEFAULT_TENANT)

    def recent(self) -> list[Services]:
        """The stores of the tenants seen most recently (at most KEPT)."""
        return list(self._kept.values())

    def services(self, tenant: str, *, keep: bool = True) -> Services:
        """The stores of `tenant` (a name the caller has checked: auth.TENANT). `keep`
        False for a tenant named by an unauthenticated request (a feed fetch), so that
        made-up names cannot push the tenants in use out of those kept."""
        found = self._kept.pop(tenant, None)
        if found is None:
            found = services_for(self.settings, self.redis, self.scripts, tenant, self.caches)
            if not keep:
                return found
        self._kept[tenant] = found
        if len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return found
