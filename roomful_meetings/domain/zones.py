"""IANA time zone names."""

from __future__ import annotations

from functools import lru_cache

import pendulum


@lru_cache(maxsize=1024)
def is_valid_zone(name: str) -> bool:
    try:
        pendulum.timezone(name)
    except Exception:  # pendulum raises several kinds for unknown or malformed names
        return False
    return True
