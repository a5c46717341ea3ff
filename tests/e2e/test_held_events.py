"""--redis-min-replicas (contract 12): a change is answered only once a replica holds it,
and nobody is shown its event before: not live, not in a replay. With the replica stopped
the change is "outcome unknown" (503) and its event waits; once the replica has it, an
instance's sweep publishes it, and it reaches every recipient once."""

from __future__ import annotations

import signal

import trio

from roomful_meetings.client import connect
from roomful_meetings.storage.embedded import RedisProcess
from tests.conftest import StartServer, token
from tests.e2e.world import meeting, ready, seed
from tests.topologies import Node

PAUSE = 2.5  # seconds the replica stays stopped: more than a WAIT and two sweeps


async def test_an_event_is_shown_only_once_a_replica_holds_its_change(
    start_server: StartServer, own_redis: RedisProcess, replica: Node
) -> None:
    server = await start_server(redis_url=own_redis.url, redis_min_replicas=1, redis_timeout=1.0)
    await seed(server)
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        await ready(alice)
        await ready(bob)
        first = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        assert (await bob.next_push("meeting:onMeetingCreated")).data["meeting"]["meetingId"] == first
        own = await alice.next_push("meeting:onMeetingCreated")
        assert own.event is not None
        last_seen = str(own.event.id)

        assert replica.proc is not None
        replica.proc.send_signal(signal.SIGSTOP)
        try:
            held = await alice.request(
                "meeting:createMeeting", meeting(subject="held", invited=["bob", "carol"])
            )
            assert held.error.code == 503 and "outcome is unknown" in held.error.message
            # a reconnecting client's replay stops before the held event
            async with connect(server.url, token("alice"), None, since=last_seen) as again:
                assert (await again.next_push()).endpoint == "connection:ready"
                with trio.move_on_after(PAUSE):
                    pushed = await again.next_push()
                    raise AssertionError(f"shown before a replica held it: {pushed}")
        finally:
            resumed_at = trio.current_time()
            replica.proc.send_signal(signal.SIGCONT)
        with trio.fail_after(10):
            pushed = await bob.next_push("meeting:onMeetingCreated")
        assert pushed.data["meeting"]["subject"] == "held" and trio.current_time() >= resumed_at
        # the change was stored: a retry with the same event.id gets its answer now
        assert held.event is not None
        again_data = meeting(subject="held", invited=["bob", "carol"])
        repeat = await alice.request("meeting:createMeeting", again_data, event_id=str(held.event.id))
        assert repeat.error.code == 0
        assert repeat.data["meeting"]["meetingId"] == pushed.data["meeting"]["meetingId"]


async def test_a_repeated_series_change_is_answered_only_once_a_replica_holds_it(
    start_server: StartServer, own_redis: RedisProcess, replica: Node
) -> None:
    """Changes to one instance of a series are prepared before their script writes, and a
    repeat is answered from the stored result without preparing again: that answer too
    waits for the replica."""
    server = await start_server(redis_url=own_redis.url, redis_min_replicas=1, redis_timeout=1.0)
    await seed(server)
    weekly = {"rule": "FREQ=WEEKLY;BYDAY=MO", "timeZone": "Europe/London"}
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        await ready(alice)
        await ready(bob)
        await alice.call("meeting:createMeeting", meeting(recurrence=weekly, invited=["bob"]))
        window = {"startDate": "2030-03-10T00:00:00Z", "endDate": "2030-03-12T00:00:00Z"}
        [instance] = (await bob.call("meeting:listUserMeetings", window))["meetings"]
        accept = {"meetingId": instance["meetingId"]}
        assert replica.proc is not None
        replica.proc.send_signal(signal.SIGSTOP)
        try:
            first = await bob.request("meeting:acceptMeetingRequest", accept, event_id="accept-1")
            assert first.error.code == 503 and "outcome is unknown" in first.error.message
            repeat = await bob.request("meeting:acceptMeetingRequest", accept, event_id="accept-1")
            assert repeat.error.code == 503 and "outcome is unknown" in repeat.error.message
        finally:
            replica.proc.send_signal(signal.SIGCONT)
        with trio.fail_after(10):
            while (
                late := await bob.request("meeting:acceptMeetingRequest", accept, event_id="accept-1")
            ).error.code:
                assert late.error.code == 503
                await trio.sleep(0.1)
        [accepted] = (await bob.call("meeting:listUserMeetings", window))["meetings"]
        assert accepted["meetingId"] == instance["meetingId"]
        assert {"userId": "bob", "status": "accepted"} in accepted["participants"]
