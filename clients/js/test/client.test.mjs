// The client against a real server (and a real Redis) that each test starts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientClosedError, MeetingsClient, MeetingsError, TimeoutError, backoffDelay } from "../dist/index.js";
import { WebSocket, next, startProxy, startWorld, token } from "./support.mjs";

const JANUARY = { startDate: "2030-01-01T00:00:00Z", endDate: "2030-01-31T00:00:00Z" };
const KICK_OFF = { sourceType: "room", sourceIds: ["lobby"], startDate: "2030-01-07T10:00:00+01:00", endDate: "2030-01-07T11:00:00+01:00" };

function client(url, tokenSource, options = {}) {
  return new MeetingsClient(url, { token: tokenSource, WebSocket, minDelayMs: 20, maxDelayMs: 200, ...options });
}

/** A world with one server, users alice, bob and carol, and a room. */
async function seeded(t) {
  const world = await startWorld(t);
  const server = await world.startServer();
  const admin = client(server.url, token("root", { admin: true }));
  await admin.upsertUsers({ users: [{ id: "alice", firstName: "Alice" }, { id: "bob" }, { id: "carol" }] });
  await admin.upsertRooms({ rooms: [{ id: "lobby", networkId: "n1", title: "Lobby" }] });
  await admin.close();
  return { world, server };
}

function opened(c, t) {
  t.after(() => c.close());
  return c;
}

const settled = (promise, ms) =>
  Promise.race([
    promise.then((value) => ({ state: "resolved", value }), (error) => ({ state: "rejected", error })),
    new Promise((done) => setTimeout(() => done({ state: "pending" }), ms)),
  ]);

test("typed endpoints and events: a meeting goes from alice to bob and his acceptance back", async (t) => {
  const { server } = await seeded(t);
  const alice = opened(client(server.url, token("alice")), t);
  const bob = opened(client(server.url, token("bob")), t);
  await Promise.all([next((f) => alice.on("connection:ready", f)), next((f) => bob.on("connection:ready", f))]);

  const arrives = next((f) => bob.on("meeting:onMeetingCreated", f));
  const { meeting } = await alice.createMeeting({ ...KICK_OFF, subject: "Kick-off", invitedUserIds: ["bob"] });
  assert.equal(meeting.subject, "Kick-off");
  const [event, ref] = await arrives;
  assert.equal(event.meeting.meetingId, meeting.meetingId);
  assert.match(ref.id, /^\d+-\d+$/);

  const accepted = next((f) => alice.on("meeting:onMeetingUpdated", f));
  assert.deepEqual(await bob.acceptMeetingRequest({ meetingId: meeting.meetingId }), {});
  const [update] = await accepted;
  assert.equal(update.meeting.participants.find((p) => p.userId === "bob").status, "accepted");
  const listed = await bob.listUserMeetings(JANUARY);
  assert.deepEqual(listed.meetings.map((m) => m.meetingId), [meeting.meetingId]);
});

test("a refused request rejects with MeetingsError carrying the server's code", async (t) => {
  const { server } = await seeded(t);
  const alice = opened(client(server.url, token("alice")), t);
  await assert.rejects(alice.getMeeting({ meetingId: "no-such-meeting" }), (e) => e instanceof MeetingsError && e.code === 404);
  await assert.rejects(
    alice.createMeeting({ ...KICK_OFF, subject: "Backwards", endDate: "2030-01-07T08:00:00+01:00" }),
    (e) => e instanceof MeetingsError && e.code === 400 && /endDate/.test(e.message),
  );
  await assert.rejects(alice.upsertUsers({ users: [{ id: "mallory" }] }), (e) => e instanceof MeetingsError && e.code === 403);
});

test("after a drop it reconnects with since=<last event id> and misses nothing", async (t) => {
  const { server } = await seeded(t);
  const proxy = await startProxy(t, server.port);
  const alice = opened(client(server.url, token("alice")), t);
  const bob = opened(client(proxy.url, () => token("bob")), t);
  await next((f) => bob.on("connection:ready", f));
  const seen = [];
  bob.on("meeting:onMeetingCreated", (data) => seen.push(data.meeting.subject));

  const first = next((f) => bob.on("meeting:onMeetingCreated", f));
  await alice.createMeeting({ ...KICK_OFF, subject: "Before", invitedUserIds: ["bob"] });
  const [, before] = await first;
  assert.equal(bob.lastEventId, before.id);

  const dropped = next((f) => bob.onStatus(f), (status) => status === "disconnected");
  proxy.cut();
  await dropped;
  // Made while bob is away: only since= can bring it to him.
  await alice.createMeeting({ ...KICK_OFF, subject: "While away", invitedUserIds: ["bob"] });
  const replayed = next((f) => bob.on("meeting:onMeetingCreated", f));
  await next((f) => bob.onStatus(f), (status) => status === "open");
  await replayed;

  assert.deepEqual(seen, ["Before", "While away"]);
  assert.equal(bob.reconnects, 1);
  assert.equal(proxy.requests.length, 2);
  assert.doesNotMatch(proxy.requests[0], /since=/);
  assert.match(proxy.requests[1], new RegExp(`[?&]since=${before.id}(&|\\s)`));
});

test("a request cut off by a drop is resent with the same event.id and applied once", async (t) => {
  const { server } = await seeded(t);
  const proxy = await startProxy(t, server.port);
  const watcher = opened(client(server.url, token("alice")), t); // alice's other tab, connected directly
  const alice = opened(client(proxy.url, () => token("alice")), t);
  await Promise.all([next((f) => alice.on("connection:ready", f)), next((f) => watcher.on("connection:ready", f))]);

  proxy.hold(); // the server's answer will be lost on the way
  const applied = next((f) => watcher.on("meeting:onMeetingCreated", f));
  const reply = alice.createMeeting({ ...KICK_OFF, subject: "Exactly once", invitedUserIds: ["bob"] });
  const [created] = await applied; // the server did create it
  proxy.cut();
  const { meeting } = await reply; // answered after the reconnection, by the safe-retry record

  assert.equal(meeting.meetingId, created.meeting.meetingId);
  const { meetings } = await alice.listUserMeetings(JANUARY);
  assert.deepEqual(meetings.filter((m) => m.subject === "Exactly once").length, 1);
  assert.equal(alice.reconnects, 1);
});

test("close code 4001 (token expired) reconnects at once with a fresh token from the callback", async (t) => {
  const { server } = await seeded(t);
  const issued = [];
  const fresh = () => {
    // The first token is 27 s past its exp: inside the 30 s leeway, so the server accepts it
    // and closes with 4001 about 3 s later (a margin for a loaded machine).
    const jwt = issued.length === 0 ? token("alice", { exp: Math.floor(Date.now() / 1000) - 27 }) : token("alice");
    issued.push(jwt);
    return jwt;
  };
  const alice = opened(client(server.url, fresh, { minDelayMs: 60_000, maxDelayMs: 60_000 }), t);
  const closes = [];
  alice.onStatus((status, detail) => status === "disconnected" && closes.push(detail.code));
  await next((f) => alice.onStatus(f), (status) => status === "open");
  // A backoff of a minute would time the test out: 4001 must skip it.
  await next((f) => alice.onStatus(f), (status) => status === "open");
  assert.deepEqual(closes, [4001]);
  assert.equal(issued.length, 2);
  assert.ok((await alice.listUserMeetings(JANUARY)).meetings);
});

test("with a fixed token, 4001 closes the client and rejects what waits", async (t) => {
  const { server } = await seeded(t);
  const expiring = token("alice", { exp: Math.floor(Date.now() / 1000) - 27 });
  const alice = client(server.url, expiring);
  await next((f) => alice.onStatus(f), (status) => status === "open");
  const closed = next((f) => alice.onStatus(f), (status) => status === "closed");
  await closed;
  await assert.rejects(alice.listUserMeetings(JANUARY), ClientClosedError);
  await alice.close();
});

test("the token callback is asked again before every connection", async (t) => {
  const { server } = await seeded(t);
  const proxy = await startProxy(t, server.port);
  let asked = 0;
  const bob = opened(client(proxy.url, async () => (asked++, token("bob", { ttl: 600 + asked }))), t);
  await next((f) => bob.onStatus(f), (status) => status === "open");
  proxy.cut();
  await next((f) => bob.onStatus(f), (status) => status === "open");
  assert.equal(asked, 2);
  const tokens = proxy.requests.map((line) => new URL(line.split(" ")[1], "ws://x").searchParams.get("token"));
  assert.notEqual(tokens[0], tokens[1]);
});

test("a token function that fails once while the network is down is retried with backoff, not the end of the client", async (t) => {
  // README: `token: async () => (await fetch("/api/meetings-token")).text()`, asked before
  // every connection, and after a drop the client reconnects. A drop is when the network is
  // down, and the fetch then rejects too: that counts as a failed connection (disconnected,
  // with the error), the client waits its backoff and asks again; what waits keeps waiting.
  const { server } = await seeded(t);
  const proxy = await startProxy(t, server.port);
  let asked = 0;
  const offline = new TypeError("Failed to fetch");
  const tokenFromBackend = async () => {
    asked++;
    if (asked === 2) throw offline; // offline for a moment
    return token("alice");
  };
  const alice = opened(client(proxy.url, tokenFromBackend), t);
  await next((f) => alice.onStatus(f), (status) => status === "open");
  const statuses = [];
  alice.onStatus((status, detail) => statuses.push([status, detail]));
  proxy.cut();
  const listed = alice.listUserMeetings(JANUARY);
  listed.catch(() => {});
  const outcome = await settled(listed, 5_000);
  const seen = statuses.map(([status, detail]) => (detail ? `${status} ${detail.code}` : status)).join(",");
  assert.equal(outcome.state, "resolved", `${outcome.state} ${outcome.error ?? ""}; statuses ${seen}`);
  assert.equal(asked, 3);
  // the drop, then a failed attempt (the token function), then a connection
  assert.deepEqual(statuses.map(([status]) => status), ["disconnected", "connecting", "disconnected", "connecting", "open"]);
  const [, failed] = statuses[2];
  assert.equal(failed.code, 0);
  assert.equal(failed.error, offline);
  assert.match(failed.reason, /token.*Failed to fetch/);
});

test("while the token function keeps failing, requests wait for their own timeout, and close() ends it", async () => {
  const failing = () => Promise.reject(new Error("the backend is down"));
  const alice = client("ws://127.0.0.1:1", failing, { minDelayMs: 5, maxDelayMs: 10 });
  const failures = [];
  alice.onStatus((status, detail) => status === "disconnected" && failures.push(detail));
  const waited = alice.listUserMeetings(JANUARY, { timeoutMs: 300 });
  const waiting = alice.listUserMeetings(JANUARY);
  await assert.rejects(waited, TimeoutError);
  assert.ok(failures.length >= 3, `${failures.length} attempts`);
  assert.ok(failures.every((detail) => detail.error.message === "the backend is down"));
  const closed = next((f) => alice.onStatus(f), (status) => status === "closed");
  await alice.close();
  await closed;
  await assert.rejects(waiting, ClientClosedError);
});

test("a reply that arrives after its request gave up is neither an event nor the last event id", async (t) => {
  const { server } = await seeded(t);
  const arrived = new Map(); // event id -> resolve, for frames as they reach the socket
  class Recording extends WebSocket {
    constructor(url) {
      super(url);
      this.addEventListener("message", (message) => {
        const id = JSON.parse(message.data).event?.id;
        arrived.get(id)?.();
      });
    }
  }
  const alice = opened(client(server.url, token("alice"), { WebSocket: Recording }), t);
  await next((f) => alice.on("connection:ready", f));
  const before = alice.lastEventId;
  const pushes = [];
  alice.onAny((push) => pushes.push(push.endpoint));
  const controller = new AbortController();
  const late = new Promise((done) => arrived.set("given-up", done));
  const request = alice.listUserMeetings(JANUARY, { eventId: "given-up", signal: controller.signal });
  controller.abort();
  await assert.rejects(request);
  await late; // the reply reached the socket; the client's own listener runs right after
  await new Promise((done) => setImmediate(done));
  assert.deepEqual(pushes, []);
  assert.equal(alice.lastEventId, before);
});

test("reconnection delays double with jitter in [d/2, d], capped", () => {
  const delays = (random) => [0, 1, 2, 3, 4].map((attempt) => backoffDelay(attempt, 250, 2_000, random));
  assert.deepEqual(delays(() => 1), [250, 500, 1000, 2000, 2000]);
  assert.deepEqual(delays(() => 0), [125, 250, 500, 1000, 1000]);
  assert.deepEqual(delays(() => 0.5), [187.5, 375, 750, 1500, 1500]);
});

test("without a WebSocket option it takes the global one, and says what to pass where there is none", async (t) => {
  if (!("WebSocket" in globalThis)) {
    // Node 20 (unflagged) has no WebSocket: the client must say so, not fail later.
    assert.throws(() => new MeetingsClient("ws://127.0.0.1:1", { token: "t" }), /pass \{ WebSocket \}/);
    return;
  }
  const { server } = await seeded(t); // Node 22+, like a browser: the built-in WebSocket
  const alice = opened(new MeetingsClient(server.url, { token: token("alice") }), t);
  assert.ok((await alice.listUserMeetings(JANUARY)).meetings);
});

test("lastEventId only moves forward: a legacy twin that comes after a later event does not take it back", async () => {
  // The server derives each deprecated event from its current one in a task of its own, so
  // on a legacy connection E1, E2, legacy(E1) may arrive in that order.
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = new URL(url);
      sockets.push(this);
    }
    send() {}
    close(code = 1000) {
      queueMicrotask(() => this.onclose?.({ code, reason: "" }));
    }
    push(endpoint, id, data) {
      const error = { status: false, code: 0, message: "" };
      this.onmessage({ data: JSON.stringify({ endpoint, event: { id, date: "2030-01-01T00:00:00Z" }, data, error }) });
    }
  }
  const tick = () => new Promise((done) => setTimeout(done, 5));
  const client = new MeetingsClient("ws://server.test/", {
    token: "t", legacy: true, WebSocket: FakeSocket, minDelayMs: 1, maxDelayMs: 2, random: () => 0,
  });
  await tick();
  const first = sockets[0];
  first.onopen?.({});
  first.push("connection:ready", "", { lastEventId: "" });
  const meeting = { meetingId: "m1", subject: "x" };
  first.push("meeting:onMeetingUpdated", "1001-0", { meeting });
  first.push("meeting:onMeetingUpdated", "1002-0", { meeting });
  first.push("meeting:meetingUpdated", "1001-0", { meeting: { id: "m1" } });
  assert.equal(client.lastEventId, "1002-0");
  first.onclose({ code: 1006, reason: "" });
  for (let i = 0; i < 50 && sockets.length < 2; i++) await tick();
  assert.equal(sockets[1]?.url.searchParams.get("since"), "1002-0");
  await client.close().catch(() => {});
});
