"""Consistency checks over the raw Redis data of one key prefix (after races, soaks, outages)."""

from __future__ import annotations

import json

from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis

STATUSES = {b"received", b"accepted", b"declined"}


async def check_invariants(redis: Redis, keys: Keys) -> int:
    """Every meeting is indexed for exactly its participants, with valid statuses. Returns
    the number of meetings checked."""
    meeting_keys = [
        k for k in await redis.scan(keys.meeting("*")) if k.count(b":") == keys.scope.count(":") + 1
    ]
    meetings: dict[str, dict[bytes, bytes]] = {}
    for key in meeting_keys:
        flat = await redis.execute("HGETALL", key)
        meetings[key.decode()[len(keys.meeting("")) :]] = dict(zip(flat[::2], flat[1::2], strict=True))
    for mid, fields in meetings.items():
        pids = json.loads(fields[b"pids"])
        assert pids[0] == fields[b"org"].decode(), mid
        assert len(set(pids)) == len(pids), mid
        if b"rule" in fields:
            await check_series(redis, keys, mid, fields, pids)
            continue
        for uid in pids:
            assert await redis.execute("ZSCORE", keys.user_meetings(uid), mid) == fields[b"start"], (mid, uid)
        invitees = {uid.encode() for uid in pids[1:]}
        statuses = {name[2:]: value for name, value in fields.items() if name.startswith(b"s:")}
        assert set(statuses) == invitees, (mid, statuses, invitees)
        assert set(statuses.values()) <= STATUSES, mid
        assert int(fields[b"end"]) > int(fields[b"start"]), mid
        member = f"{mid}:{int(fields[b'start'])}:{int(fields[b'end'])}"
        for uid in pids:
            busy = uid == pids[0] or statuses[uid.encode()] != b"declined"
            assert (await redis.execute("ZSCORE", keys.user_busy(uid), member) is not None) == busy, (
                mid,
                uid,
            )
        if fields[b"valid"] == b"1":
            assert (
                await redis.execute("ZSCORE", keys.source(fields[b"src"].decode()), mid) == fields[b"end"]
            ), mid
    for index in await redis.scan(keys.user_meetings("*")):
        uid = index.decode()[len(keys.user("")) : -len(":meetings")]
        for mid in await redis.execute("ZRANGE", index, 0, -1):
            assert mid.decode() in meetings, (uid, mid)
            assert uid in json.loads(meetings[mid.decode()][b"pids"]), (uid, mid)
    for index in await redis.scan(keys.user_series("*")):
        uid = index.decode()[len(keys.user("")) : -len(":series")]
        for sid in await redis.execute("ZRANGE", index, 0, -1):
            assert b"rule" in meetings[sid.decode()], (uid, sid)
            assert uid in json.loads(meetings[sid.decode()][b"pids"]), (uid, sid)
    for index in await redis.scan(keys.user_busy("*")):
        uid = index.decode()[len(keys.user("")) : -len(":busy")]
        for member in await redis.execute("ZRANGE", index, 0, -1):
            mid, start, end = member.decode().split(":")
            assert mid in meetings, (uid, member)
            assert (meetings[mid][b"start"], meetings[mid][b"end"]) == (start.encode(), end.encode()), (
                uid,
                member,
            )
    return len(meetings)


async def check_series(
    redis: Redis, keys: Keys, sid: str, fields: dict[bytes, bytes], pids: list[str]
) -> None:
    """A series is indexed for exactly its participants in their series index (scored by
    its earliest instance start) and nowhere else per user; its instances' own statuses
    belong to invitees and are valid."""
    for uid in pids:
        assert await redis.execute("ZSCORE", keys.user_series(uid), sid) == fields[b"lo"], (sid, uid)
        assert await redis.execute("ZSCORE", keys.user_meetings(uid), sid) is None, (sid, uid)
    invitees = set(pids[1:])
    statuses = {name[2:].decode(): value for name, value in fields.items() if name.startswith(b"s:")}
    assert set(statuses) == invitees, (sid, statuses, invitees)
    assert set(statuses.values()) <= STATUSES, sid
    assert int(fields[b"end"]) - int(fields[b"start"]) == int(fields[b"len"]) > 0, sid
    flat = await redis.execute("HGETALL", keys.series_instances(sid))
    owned = 0
    for name, value in zip(flat[::2], flat[1::2], strict=True):
        kind, _, rest = name.decode().partition(":")
        assert kind in ("o", "c", "s"), (sid, name)
        if kind == "s":
            assert rest.partition(":")[2] in invitees and value in STATUSES, (sid, name, value)
        if kind == "o":
            owned += bool({"subject", "description", "color"} & json.loads(value).keys())
    # `xo`, where kept, counts the overrides with fields of the instance's own
    assert fields.get(b"xo", str(owned).encode()) == str(owned).encode(), (sid, fields.get(b"xo"), owned)
    if fields[b"valid"] == b"1":
        score = await redis.execute("ZSCORE", keys.source(fields[b"src"].decode()), sid)
        assert score == (b"inf" if fields[b"hi"] == b"inf" else fields[b"hi"]), (sid, score)
