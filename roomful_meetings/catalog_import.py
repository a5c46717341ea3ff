"""`roomful-meetings catalog import FILE`: the admin shapes, loaded from a JSON file."""

from __future__ import annotations

from pathlib import Path

import msgspec
import trio

from roomful_meetings.app import build_services, prepare_redis, redis_address
from roomful_meetings.auth import TENANT
from roomful_meetings.config import ConfigError, Settings
from roomful_meetings.protocol.payloads import CatalogFile
from roomful_meetings.service.admin import import_catalog
from roomful_meetings.storage.keys import DEFAULT_TENANT
from roomful_meetings.storage.redis import open_redis


async def run_import(settings: Settings, path: Path, tenant: str = DEFAULT_TENANT) -> dict[str, int]:
    """Raises ConfigError for a tenant that is not a name."""
    if not TENANT.fullmatch(tenant):
        raise ConfigError(f"bad value for --tenant: {tenant!r} (1 to 64 of A-Z a-z 0-9 _ -)")
    catalog = msgspec.json.decode(await trio.Path(path).read_bytes(), type=CatalogFile)
    async with redis_address(settings) as address, open_redis(address) as redis:
        services = build_services(settings, redis, tenant)
        await prepare_redis(redis, services.keys, settings.redis_connect_timeout)
        return await import_catalog(services, catalog)
