"""What a profile's email may be (pure).

An email is written into calendar feeds and invitations as `mailto:<email>` (contract 11),
raw in a content line: a line break in it ended the ATTENDEE line and made the rest lines
of the feed's own (a VEVENT of the writer's choosing in every colleague's calendar). So an
email is a plain addr-spec, `local@domain`: no white space, control characters, quotes,
angle brackets or the other specials of RFC 5322 3.2.3 (a quoted local part or a display
name is refused, not parsed). Letters beyond ASCII are kept (RFC 6532).
"""

from __future__ import annotations

import re
from typing import Final

# One side of the `@`: anything but white space (Unicode's included), C0 and C1 control
# characters, DEL, and the RFC 5322 specials other than the dot.
_ATOMS: Final = r'[^\s\x00-\x1f\x7f-\x9f"<>()\[\]\\,;:@]+'
_EMAIL: Final = re.compile(rf"{_ATOMS}@{_ATOMS}")


def is_plain_email(text: str) -> bool:
    """Whether `text` is an email this server stores and writes (`local@domain`)."""
    return _EMAIL.fullmatch(text) is not None
