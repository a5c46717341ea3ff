"""Moving a tenant's slot to another primary (`redis-cli --cluster reshard`) while the
server runs: meanwhile the tenant's requests are 503, never a wrong answer; no script
writes half its change; and the move itself completes (no MIGRATE meets a key a script
made on the new node: BUSYKEY). The slot guard of storage/redis/scripts.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from roomful_meetings.app import Running, run_server
from roomful_meetings.client import connect
from roomful_meetings.client.raw import Client
from roomful_meetings.config import Settings
from roomful_meetings.service.dispatch import NOT_APPLIED
from roomful_meetings.storage.keys import Keys
from tests.conftest import SECRET, token
from tests.topologies import RedisCluster, SlotMove, command

TENANT = "acme"


def tenant_data(move: SlotMove, keys: Keys) -> dict[tuple[int, bytes], bytes]:
    """Every key of the tenant on the two nodes of the move, with its DUMP."""
    found = {}
    for port in (move.source, move.target):
        for key in command(port, "KEYS", f"{keys.scope}*"):
            found[(port, key)] = command(port, "DUMP", key, asking=port == move.target)
    return found


async def accept_without_event_id(client: Client, meeting_id: str) -> Any:
    """A request with no `event` (still answered, with "event": null: contract section 2),
    so that no safe-retry key is declared beside the meeting's: the script then names one
    key, which Redis alone cannot stop during a move."""
    request = {"endpoint": "meeting:acceptMeetingRequest", "data": {"meetingId": meeting_id}}
    await client.ws.send_message(msgspec.json.encode(request).decode())
    with trio.fail_after(10):
        return await client.next_push("meeting:acceptMeetingRequest")


@pytest.mark.parametrize("moved_first", ["the meeting", "all but the meeting"])
async def test_a_change_during_a_slot_move_is_503_and_writes_nothing(
    own_cluster: RedisCluster, prefix: str, tmp_path: Path, moved_first: str
) -> None:
    """The meeting moved first: an accept follows ASK to the new node, where the
    participants' streams and the tenant's counters are not yet. Everything but the
    meeting moved: the accept runs on the old node, whose next keys are gone."""
    keys = Keys(prefix, TENANT)
    settings = Settings(
        port=0, redis_url=own_cluster.url, key_prefix=prefix, jwt_secret=SECRET, data_dir=tmp_path
    )
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        running: Running = await nursery.start(run_server, settings, stop)
        url = f"ws://127.0.0.1:{running.port}"
        async with connect(url, token("root", admin=True, tenant=TENANT)) as admin:
            await admin.call("admin:upsertUsers", {"users": [{"id": "alice"}, {"id": "bob"}]})
            await admin.call("admin:upsertRooms", {"rooms": [{"id": "lobby"}]})
        async with (
            connect(url, token("alice", tenant=TENANT)) as alice,
            connect(url, token("bob", tenant=TENANT)) as bob,
        ):
            for client in (alice, bob):
                assert (await client.next_push()).endpoint == "connection:ready"
            made = await alice.call(
                "meeting:createMeeting",
                {
                    "sourceType": "room",
                    "sourceIds": ["lobby"],
                    "subject": "planning",
                    "startDate": "2030-03-04T10:00:00Z",
                    "endDate": "2030-03-04T11:00:00Z",
                    "invitedUserIds": ["bob"],
                },
            )
            mid = made["meeting"]["meetingId"]
            assert (await bob.next_push("meeting:onMeetingCreated")).data["meeting"]["meetingId"] == mid

            move = SlotMove(own_cluster, keys.scope)
            move.begin()
            every_key = command(move.source, "CLUSTER", "GETKEYSINSLOT", move.slot, 1000)
            meeting = keys.meeting(mid).encode()
            assert meeting in every_key
            first = [meeting] if moved_first == "the meeting" else [k for k in every_key if k != meeting]
            assert (
                command(move.source, "MIGRATE", "127.0.0.1", move.target, "", 0, 5000, "KEYS", *first)
                == b"OK"
            )
            before = tenant_data(move, keys)

            answer = await accept_without_event_id(bob, mid)
            assert (answer.error.code, answer.error.message) == (503, NOT_APPLIED)
            late = await bob.request("meeting:getMeeting", {"meetingId": mid})
            assert late.error.code == 503  # a read is refused too: it could read keys not there yet
            assert tenant_data(move, keys) == before, "a script wrote during the move"

            move.finish()  # every MIGRATE answers OK: no key was made on the new node meanwhile
            with trio.fail_after(10):
                await bob.call("meeting:acceptMeetingRequest", {"meetingId": mid})
            updated = await alice.next_push("meeting:onMeetingUpdated")
            statuses = {p["userId"]: p["status"] for p in updated.data["meeting"]["participants"]}
            assert statuses["bob"] == "accepted"
            assert own_cluster.owner(keys.scope) == move.target
            assert command(move.source, "KEYS", f"{keys.scope}*") == []
        stop.set()
