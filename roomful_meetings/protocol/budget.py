"""How large one answer may grow: `--max-answer-bytes` (16 MiB by default).

A listing holds at most 1000 meetings (contract 5), but a meeting's size is bounded only
by its own limits: 100 invitees, each shown with a profile in the deprecated shape, and a
10,000-character description. A year of daily series made a 35 MB answer, and one
connection could have 32 of them built at once. So an answer to a read may be at most the
limit in bytes (its frame, the echoed `event` aside); a larger one is refused with 400,
which the contract gives to a range or list too long: the client asks for less.

The listings are built meeting by meeting against an `AnswerBudget`, which stops the
building as soon as the answer passes the limit: a listing refused costs about the limit,
not its own size. The dispatcher checks every read's encoded answer against the
limit as well (service/dispatch.py), so the bound holds for answers built whole too.
"""

from __future__ import annotations

from typing import Final

from roomful_meetings.errors import BadRequest

SHORTER_RANGE: Final = "ask for a shorter range (`data.startDate` to `data.endDate`)"


def too_large(limit: int, advice: str = "") -> BadRequest:
    """The 400 of an answer larger than `limit` bytes, with what the client can do."""
    message = f"the answer would be larger than {limit} bytes, the most one answer may hold"
    return BadRequest(f"{message}: {advice}" if advice else message)


class AnswerBudget:
    """The bytes an answer still has room for, spent by its builder item by item."""

    __slots__ = ("advice", "left", "limit")

    def __init__(self, limit: int, advice: str = "") -> None:
        self.limit = limit
        self.left = limit
        self.advice = advice

    def spend(self, item: bytes) -> None:
        """Count one item of the answer (and the comma after it).

        Raises:
            BadRequest: the answer has passed the limit.
        """
        self.left -= len(item) + 1
        if self.left < 0:
            raise self.refusal()

    def refusal(self) -> BadRequest:
        """The 400 of this answer, for a builder that knows it would pass the limit."""
        return too_large(self.limit, self.advice)
