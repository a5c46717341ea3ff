"""What findMeetingTimes keeps between searches on one instance (how it is used: the
theory of operation in service/findtime.py). Every key holds the versions read from Redis
at the start of a search, so an entry is never used after its inputs changed, on any
instance; entries are bounded by bytes, least recently used out first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from roomful_meetings.domain.findtime import States
from roomful_meetings.protocol.replies import RawMeetingTimesReply

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Per-person states: about 2 kB each for 4 weeks at step 30 (1,343 candidates).
PEOPLE_BYTES: Final = 32 << 20
# Encoded replies: about 45 kB each for 20 suggestions x 51 people.
REPLY_BYTES: Final = 16 << 20


class Recent(Generic[K, V]):
    """A map keeping its most recently used entries within `budget` bytes (`size_of` says
    what one value holds); a value larger than the whole budget is not kept."""

    def __init__(self, budget: int, size_of: Callable[[V], int]) -> None:
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._budget, self._size_of = budget, size_of
        self.used = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V) -> None:
        size = self._size_of(value)
        old = self._items.pop(key, None)
        if old is not None:
            self.used -= old[1]
        if size > self._budget:
            return
        self._items[key] = (value, size)
        self.used += size
        while self.used > self._budget:
            _, (_, dropped) = self._items.popitem(last=False)
            self.used -= dropped

    def clear(self) -> None:
        self._items.clear()
        self.used = 0


def _reply_size(reply: RawMeetingTimesReply) -> int:
    return len(reply.suggestions) + 200


@dataclass(frozen=True, slots=True)
class SearchCache:
    """Per instance: each person's states per (person, head, search shape), and each
    encoded reply per (search, every counted person's head)."""

    people: Recent[Hashable, States] = field(default_factory=lambda: Recent(PEOPLE_BYTES, States.size))
    replies: Recent[Hashable, RawMeetingTimesReply] = field(
        default_factory=lambda: Recent(REPLY_BYTES, _reply_size)
    )

    def clear(self) -> None:
        """Forget everything (benchmarks of cold searches)."""
        self.people.clear()
        self.replies.clear()
