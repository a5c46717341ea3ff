"""The Origin allow-list of the handshake (contract section 13), against cross-site
websocket hijacking: a page on another site could otherwise open a websocket with the
visitor's `?token=` and act as them.

Pure: it reads request headers and the configured list, nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable


def parse_allowed_origins(text: str) -> frozenset[str]:
    """`https://app.example, http://localhost:3000` -> the exact origins (empty: any)."""
    return frozenset(part.strip() for part in text.split(",") if part.strip())


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
