"""How the server notices a client going: the end of the stream (FIN) or a reset (RST) that
arrives in the same moment as the client's last bytes must end the session at once, as one
that arrives later does. (The instance's epoll reports both in one go, and a short read of
the bytes would otherwise be taken for "nothing more to come".)

Observed through the per-user cap of one connection: the user can connect again only once
the server has let the first connection go."""

from __future__ import annotations

import os
import socket
import struct

import pytest
import trio

from tests.conftest import StartServer, token
from tests.wsraw import RawPeer, client_frame, open_raw

PING, TEXT = 9, 1
NOTICED_WITHIN = 0.5  # seconds; without the fix the server waited for the keepalive (40 s)


async def connect_status(url: str, user: str) -> tuple[trio.SocketStream, RawPeer, int]:
    stream, status, received = await open_raw(url, [(b"authorization", f"Bearer {token(user)}".encode())])
    return stream, RawPeer(stream, received), status


@pytest.mark.parametrize("ending", ["fin", "rst"])
@pytest.mark.parametrize("together", [True, False], ids=["with-the-last-bytes", "after-them"])
async def test_a_client_that_goes_right_after_its_last_bytes_is_let_go(
    start_server: StartServer, ending: str, together: bool
) -> None:
    server = await start_server(max_connections_per_user=1)
    stream, peer, status = await connect_status(server.url, "alice")
    assert status == 101
    assert (await peer.next_frame())[0] == TEXT  # connection:ready
    sock = stream.socket
    if ending == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # Written at once, with no checkpoint between it and the end: the server must not get
    # the chance to read the bytes before the FIN or RST is there too.
    os.write(sock.fileno(), client_frame(PING, b"last words"))
    if not together:
        await trio.sleep(0.1)
    if ending == "fin":
        sock.shutdown(socket.SHUT_WR)
    else:
        sock.close()  # with SO_LINGER 0: a reset
    await trio.sleep(NOTICED_WITHIN)
    again, _, status = await connect_status(server.url, "alice")
    async with again:
        assert status == 101, "the first connection is still held"
    await stream.aclose()
