// What the server refuses, seen through the TypeScript client, against a real server.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ConnectionClosedError, MeetingsClient, MeetingsError } from "../dist/index.js";
import { ROOT, WebSocket, next, startWorld, token } from "./support.mjs";

const KICK_OFF = { sourceType: "room", sourceIds: ["lobby"], startDate: "2030-01-07T10:00:00+01:00", endDate: "2030-01-07T11:00:00+01:00" };

function client(url, tokenSource, options = {}) {
  return new MeetingsClient(url, { token: tokenSource, WebSocket, minDelayMs: 20, maxDelayMs: 200, ...options });
}

async function seeded(t, args = []) {
  const world = await startWorld(t);
  const server = await world.startServer({ args });
  const admin = client(server.url, token("root", { admin: true }));
  await admin.upsertUsers({ users: [{ id: "alice", firstName: "Alice" }, { id: "bob" }] });
  await admin.upsertRooms({ rooms: [{ id: "lobby", networkId: "n1", title: "Lobby" }] });
  await admin.close();
  return { world, server };
}

const settled = (promise, ms) =>
  Promise.race([
    promise.then((value) => ({ state: "resolved", value }), (error) => ({ state: "rejected", error })),
    new Promise((done) => setTimeout(() => done({ state: "pending" }), ms)),
  ]);

test("a request the server refuses by closing 1009 (too large) fails after its resends", async (t) => {
  // Contract 3: "only a frame too large ... is met with a close". The request is resent after
  // each reconnection (resends: 2, then it fails with the close code), and the backoff grows
  // meanwhile: the connections it closed lasted no time.
  const { server } = await seeded(t, ["--max-frame-bytes", "4096"]);
  const alice = client(server.url, token("alice"));
  t.after(() => alice.close());
  await next((f) => alice.on("connection:ready", f));
  const big = alice.getMeeting({ meetingId: "x".repeat(10_000) });
  big.catch(() => {});
  const outcome = await settled(big, 5_000);
  assert.equal(outcome.state, "rejected", `still ${outcome.state} after 5 s, ${alice.reconnects} reconnections`);
  assert.ok(outcome.error instanceof ConnectionClosedError, String(outcome.error));
  assert.equal(outcome.error.code, 1009);
  assert.equal(alice.reconnects, 3); // sent on three connections, each closed 1009
  const small = await alice.getMeeting({ meetingId: "nothing" }).catch((error) => error);
  assert.equal(small.code, 404); // and the client goes on serving the others
});

test("a string cut in the middle of an emoji (a lone surrogate) is refused at once, and nothing is sent", async (t) => {
  // Contract 2: exactly one response per request, its event echoed. JSON.stringify writes a
  // lone surrogate as "\ud83c"; the server answers 400 "not valid JSON" with event null (it
  // cannot read the event of invalid JSON), which the client cannot match: without
  // timeoutMs the promise would never settle. The client refuses such a request itself.
  const { server } = await seeded(t);
  const sent = [];
  class Recording extends WebSocket {
    send(frame, ...rest) {
      sent.push(JSON.parse(frame).event?.id);
      return super.send(frame, ...rest);
    }
  }
  const alice = client(server.url, token("alice"), { WebSocket: Recording });
  t.after(() => alice.close());
  await next((f) => alice.on("connection:ready", f));
  const subject = "Party 🎉".slice(0, 7); // "Party " + the first half of the emoji
  const cut = [
    alice.createMeeting({ ...KICK_OFF, subject }, { eventId: "cut-subject" }),
    alice.createMeeting({ ...KICK_OFF, subject: "Party", invitedUserIds: ["bob", "\udf89"] }, { eventId: "cut-array" }),
    alice.call("meeting:createMeeting", { ...KICK_OFF, subject: "Party", [subject]: 1 }, { eventId: "cut-key" }),
  ];
  cut.forEach((request) => request.catch(() => {}));
  const outcomes = await Promise.all(cut.map((request) => settled(request, 3_000)));
  for (const outcome of outcomes) {
    assert.equal(outcome.state, "rejected", `still ${outcome.state} after 3 s`);
    assert.ok(outcome.error instanceof MeetingsError, String(outcome.error));
    assert.equal(outcome.error.code, 400);
    assert.equal(outcome.error.endpoint, "meeting:createMeeting");
    assert.match(outcome.error.message, /lone surrogate/);
  }
  assert.match(outcomes[0].error.message, /data\.subject/);
  assert.match(outcomes[1].error.message, /data\.invitedUserIds\[1\]/);
  assert.match(outcomes[2].error.message, /a key of data/);
  assert.deepEqual(sent.filter((id) => id?.startsWith("cut-")), []); // refused before the wire
  // A whole emoji (a surrogate pair) is well-formed and goes through.
  const { meeting } = await alice.createMeeting({ ...KICK_OFF, subject: "Party 🎉" }, { timeoutMs: 5_000 });
  assert.equal(meeting.subject, "Party 🎉");
});

test("the typed reply of listUserMeetings declares every field the server sends", async (t) => {
  // meeting-api.txt, listUserMeetings' response: each meeting has "userId" and "status" (the
  // caller's own status); src/generated.ts is made from docs/asyncapi.json.
  const { server } = await seeded(t);
  const alice = client(server.url, token("alice"));
  const bob = client(server.url, token("bob"));
  t.after(() => Promise.all([alice.close(), bob.close()]));
  await alice.createMeeting({ ...KICK_OFF, subject: "Status", invitedUserIds: ["bob"] });
  const { meetings } = await bob.listUserMeetings({ startDate: "2030-01-07T00:00:00Z", endDate: "2030-01-08T00:00:00Z" });
  assert.equal(meetings[0].status, "received"); // on the wire
  const schemas = JSON.parse(readFileSync(join(ROOT, "docs/asyncapi.json"), "utf8")).components.schemas;
  const item = schemas.MeetingList.properties.meetings.items.$ref.split("/").pop();
  const declared = Object.keys(schemas[item].properties);
  const undeclared = Object.keys(meetings[0]).filter((key) => !declared.includes(key));
  assert.deepEqual(undeclared, [], `${item} lacks what the server sends`);
});
