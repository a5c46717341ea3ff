"""The Origin allow-list of the handshake (contract section 13), against cross-site
websocket hijacking: a page on another site could otherwise open a websocket with the
visitor's `?token=` and act as them.

Pure: it reads request headers and the configured list, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# An origin as browsers serialize it: lowercase scheme and host (or [IPv6]), an optional
# port, no path and no trailing slash (https://app.example:8443), or the opaque origin `null`.
ORIGIN = re.compile(r"null|[a-z][a-z0-9+.-]*://(\[[0-9a-f:.]+\]|[^/?#\s:\[\]A-Z]+)(:[0-9]{1,5})?")


def parse_allowed_origins(text: str) -> frozenset[str]:
    """`https://app.example, http://localhost:3000` -> the exact origins (empty: any).

    An entry no browser would ever send (a path, a trailing slash, capitals) is a ValueError:
    it would silently refuse every page instead of the one meant."""
    origins = frozenset(part.strip() for part in text.split(",") if part.strip())
    for origin in sorted(origins):
        if not ORIGIN.fullmatch(origin):
            raise ValueError(
                f"{origin!r} is not an origin as browsers send it: scheme://host[:port] in "
                "lowercase, without a path or trailing slash (or null)"
            )
    return origins


def origin_refused(headers: Iterable[tuple[bytes, bytes]], allowed: frozenset[str]) -> str | None:
    """The refused Origin, or None when the handshake may go on.

    No allow-list allows every Origin. A handshake without an Origin header is not a
    browser's (browsers always send one) and is not refused for it; `null` (sandboxed
    frames, file: pages) is refused unless listed, like any other unlisted origin."""
    if not allowed:
        return None
    for name, value in headers:
        if name.lower() == b"origin":
            origin = value.decode("latin-1").strip()
            return None if origin in allowed else origin
    return None
