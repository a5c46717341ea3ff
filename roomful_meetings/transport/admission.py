"""Connection slots of one instance: `--max-connections` and `--max-connections-per-user`.

`--max-connections` counts every TCP connection of the websocket port from its accept to
its close, handshakes not yet read included: a connection that never sends its handshake
holds a descriptor for up to `--handshake-timeout`, and counted from the token check only,
any number of them could take every descriptor of the process (then no one can connect,
nor can the instance reach Redis). One over the cap is answered 503 and closed at once.

The per-user cap is reserved at the token check. Why a ledger of its own rather than the
hub's count: between the token check and the hub join a handshake awaits Redis (the
profile upsert) and the websocket accept. A check against the hub alone lets a burst of
handshakes all pass it before the first one joins. Slots are taken synchronously (no
await between the check and the count, so no other task runs in between) and given back
when the connection ends, whatever the path.
"""

from __future__ import annotations

from typing import Final

FULL: Final = (503, "this server instance is full; try another")
USER_FULL: Final = (429, "too many connections for this user")


class ConnectionCap:
    """The connections a port holds at once, counted from accept (the HTTP port's whole
    admission; the websocket port's first step)."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self.open = 0  # connections accepted and not closed yet

    def accept(self) -> bool:
        """Count a connection just accepted: False when `max_connections` are open already
        (then turn it away at once; it is not counted)."""
        if self.open >= self.max_connections:
            return False
        self.open += 1
        return True

    def close(self) -> None:
        if self.open <= 0:
            raise RuntimeError("closed a connection that was never counted")
        self.open -= 1


class Admission(ConnectionCap):
    def __init__(self, max_connections: int, max_per_user: int) -> None:
        super().__init__(max_connections)
        self.max_per_user = max_per_user
        self.held = 0  # of the open connections, those past the token check
        self._by_user: dict[str, int] = {}

    def held_by(self, user_id: str) -> int:
        return self._by_user.get(user_id, 0)

    def reserve(self, user_id: str) -> tuple[int, str] | None:
        """Take a slot for `user_id`, whose connection is counted (`accept`): None when
        taken (the caller must `release` it), else the HTTP status and message to refuse
        the handshake with."""
        mine = self._by_user.get(user_id, 0)
        if mine >= self.max_per_user:
            return USER_FULL
        self.held += 1
        self._by_user[user_id] = mine + 1
        return None

    def release(self, user_id: str) -> None:
        mine = self._by_user.get(user_id, 0)
        if mine <= 0:
            raise RuntimeError(f"released a connection slot {user_id!r} does not hold")
        self.held -= 1
        if mine == 1:
            del self._by_user[user_id]
        else:
            self._by_user[user_id] = mine - 1
