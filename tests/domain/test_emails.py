"""domain/emails.py: which emails a profile may hold (they are written into calendar lines
as `mailto:<email>`, raw)."""

from __future__ import annotations

import pytest

from roomful_meetings.domain.emails import is_plain_email


@pytest.mark.parametrize(
    "email",
    [
        "alice@x.test",
        "Alice.Liddell+work@Example.COM",
        "o'neil@x.test",
        "taro@例え.jp",
        "a_b-c@d",
        "x@1.2.3.4",
    ],
)
def test_plain_addresses_are_emails(email: str) -> None:
    assert is_plain_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "",
        "alice",
        "@x.test",
        "alice@",
        "a@b@c",
        "eve@x.test\r\nEND:VEVENT",
        "eve@x.test\n",
        "eve@x.test\x00",
        "eve\x1b@x.test",
        "eve@x.test\x7f",
        "eve@x.test\x85",  # a C1 control (NEL)
        "eve@x.test\u2028",  # Unicode's line separator
        "eve @x.test",
        "eve@x.test\t",
        '"eve"@x.test',
        "Eve <eve@x.test>",
        "eve@x.test;x=y",
        "eve@x.test,bob@x.test",
        "eve@[127.0.0.1]",
        "eve(comment)@x.test",
        "eve\\@x.test",
        "eve@x.test:80",
    ],
)
def test_anything_else_is_not(email: str) -> None:
    assert not is_plain_email(email)
