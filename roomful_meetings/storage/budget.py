"""How much of recurring series one request may work out, and how often it lets others in.

Theory of operation. Series are stored once and expanded in Python for each read, on the
instance's one event loop: a search over people who take part in many series works out
every instance of theirs in the window, and while it does, no other request of the
instance is served. Two things keep that in bounds:

- the budget: the instances of the series read (each series once, whoever takes part in
  it) plus one step per person and series (and one per instance of a series where the
  person has statuses of their own: those are read instance by instance) may not pass
  `--max-expanded-instances`; past it the request is refused with a 400 that says what to
  ask instead. It is counted on what the people have in the window, not on what this
  instance had cached, so the same calendars and request give the same answer; a search
  whose answer findMeetingTimes kept (service/findcache.py) reads nothing and counts
  nothing. Refused early, before the expansion, as soon as the part already seen is over;
- pauses: every PAUSE_STEPS steps of work the request yields to the event loop
  (storage/redis/inline.py `pause`), so other connections are served meanwhile.
"""

from __future__ import annotations

from typing import Final

from roomful_meetings.errors import BadRequest
from roomful_meetings.storage.redis.inline import pause

# Steps of work between two pauses: about a millisecond of CPU.
PAUSE_STEPS: Final = 2_000


class ExpansionBudget:
    """One request's budget (`limit` steps; None: no limit) and its pauses. `advice`
    ends the refusal's message: what to ask instead."""

    def __init__(self, limit: int | None = None, advice: str = "") -> None:
        self.limit = limit
        self.advice = advice
        self._unpaused = 0

    def require(self, steps: int) -> None:
        """Refuse the request when what it must work out (`steps`, or a part of it) is
        over the limit."""
        if self.limit is not None and steps > self.limit:
            raise BadRequest(
                "the recurring meetings of the people asked are too many to work out in one"
                f" request: {steps} instances and steps, at most {self.limit}"
                f" (--max-expanded-instances){'; ' + self.advice if self.advice else ''}"
            )

    async def step(self, steps: int) -> None:
        """Note `steps` of work done; yield to other tasks once enough came together."""
        self._unpaused += steps
        if self._unpaused >= PAUSE_STEPS:
            self._unpaused = 0
            await pause()
