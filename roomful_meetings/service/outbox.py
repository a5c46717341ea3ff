"""The sweep of held events (--redis-min-replicas): a change's events wait in its tenant's
outbox until the server that made it saw its WAIT succeed and released them
(storage/base.py). If that server stopped in between, or its WAIT timed out, the events
would wait until the tenant's next change; instead, every instance releases, once a
second, what the outboxes of the tenants it serves hold, as soon as the replicas have it.
"""

from __future__ import annotations

import logging
from typing import Final

import trio

from roomful_meetings.service.tenants import Tenants
from roomful_meetings.storage.events import holding
from roomful_meetings.storage.redis import RedisError

log = logging.getLogger(__name__)

SWEEP_SECONDS: Final = 1.0


async def sweep_outboxes(tenants: Tenants) -> None:
    """Run until cancelled."""
    while True:
        await trio.sleep(SWEEP_SECONDS)
        recent = tenants.recent()
        try:
            held = await holding(tenants.redis, [services.keys for services in recent])
            for services, holds in zip(recent, held, strict=True):
                if holds:
                    await services.events.release_held()
        except RedisError as exc:  # a failover, lagging replicas: the next sweep retries
            log.debug("held events not released yet: %s", exc)
