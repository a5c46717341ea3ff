"""`roomful-meetings catalog import FILE`: the admin shapes, loaded from a JSON file."""

from __future__ import annotations

from pathlib import Path

import msgspec
import trio

from roomful_meetings.app import build_services, prepare_redis, redis_address
from roomful_meetings.config import Settings
from roomful_meetings.protocol.payloads import CatalogFile
from roomful_meetings.service.admin import import_catalog
from roomful_meetings.storage.redis import open_redis


async def run_import(settings: Settings, path: Path) -> dict[str, int]:
    catalog = msgspec.json.decode(await trio.Path(path).read_bytes(), type=CatalogFile)
    async with redis_address(settings) as address, open_redis(address) as redis:
        services = build_services(settings, redis)
        await prepare_redis(redis, services.keys, settings.redis_connect_timeout)
        return await import_catalog(services, catalog)
