"""The Origin allow-list of the handshake (contract section 13), with raw handshakes."""

from __future__ import annotations

import io

import pytest

from roomful_meetings.config import ConfigError, settings_from
from roomful_meetings.protocol.origins import parse_allowed_origins
from tests.conftest import ServerHandle, StartServer, token
from tests.wsraw import handshake_status

APP = "https://app.example"


def with_origin(origin: str | None, jwt: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = [] if origin is None else [(b"origin", origin.encode())]
    return headers + ([] if jwt is None else [(b"authorization", f"Bearer {jwt}".encode())])


async def test_listed_origins_and_handshakes_without_origin_are_accepted(start_server: StartServer) -> None:
    server: ServerHandle = await start_server(allowed_origins=f"{APP}, http://localhost:3000")
    for origin in (APP, "http://localhost:3000", None):
        status, _ = await handshake_status(server.url, with_origin(origin, token("alice")))
        assert status == 101, origin


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "https://app.example:443", "HTTPS://APP.EXAMPLE"]
)
async def test_unlisted_origins_are_refused_with_403(start_server: StartServer, origin: str) -> None:
    server: ServerHandle = await start_server(allowed_origins=APP)
    status, body = await handshake_status(server.url, with_origin(origin, token("alice")))
    assert status == 403 and b"origin not allowed" in body


async def test_the_origin_is_checked_before_the_token(start_server: StartServer) -> None:
    server: ServerHandle = await start_server(allowed_origins=APP)
    assert (await handshake_status(server.url, with_origin("https://evil.example")))[0] == 403
    assert (await handshake_status(server.url, with_origin("https://evil.example", "bad")))[0] == 403
    assert (await handshake_status(server.url, with_origin(APP, "bad")))[0] == 401


async def test_without_an_allow_list_any_origin_is_accepted(server: ServerHandle) -> None:
    for origin in ("https://evil.example", "null"):
        assert (await handshake_status(server.url, with_origin(origin, token("alice"))))[0] == 101


@pytest.mark.parametrize(
    "bad", ["https://app.example/", "https://app.example/path", "HTTPS://APP.EXAMPLE", "app.example", "*"]
)
def test_an_entry_no_browser_sends_is_refused_at_start(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"bad value for --allowed-origins: .* scheme://host\[:port\]"):
        settings_from(None, {"ROOMFUL_ALLOWED_ORIGINS": f"https://ok.example,{bad}"})


def test_the_allow_list_is_split_on_commas_and_trimmed() -> None:
    assert parse_allowed_origins(" https://a.example ,https://b.example,, ") == {
        "https://a.example",
        "https://b.example",
    }
    assert parse_allowed_origins("") == frozenset()
    listed = "http://localhost:3000, null,http://[::1]:8000,app://desktop"
    assert settings_from(None, {"ROOMFUL_ALLOWED_ORIGINS": listed}).allowed_origins == (
        "app://desktop,http://[::1]:8000,http://localhost:3000,null"
    )


async def test_query_tokens_never_reach_the_logs_of_accepted_or_refused_handshakes(
    captured_logs: io.StringIO,
    start_server: StartServer,
) -> None:
    server: ServerHandle = await start_server(allowed_origins=APP)
    secret = token("alice")
    for origin in (APP, "https://evil.example", None):
        status, _ = await handshake_status(f"{server.url}/?token={secret}&since=", with_origin(origin))
        assert status in (101, 403)
    status, _ = await handshake_status(f"{server.url}/?token={secret[:-4]}", with_origin(APP))
    assert status == 401
    logged = captured_logs.getvalue()
    assert "refused: origin 'https://evil.example' is not allowed" in logged
    assert secret.split(".")[2][:-4] not in logged and "token=" not in logged
