// The Node.js reference of bench/run.py: the getMeeting job with ws and ioredis.
//
//   node server.js --port P --redis-port R --prefix "bench:{default}:" --sha <sha1 of get_meeting>
//   (--prefix: the tenant's key scope, the part of every key before `m:<id>`)
//
// Same wire as the project's server: a connection:ready push on connect, then each
// request answered with the project's envelope. getMeeting runs the project's own
// get_meeting script (already loaded into Redis by the servers under test) with EVALSHA:
// the membership check and the stored JSON read in one round trip, as the project does.
// The caller is read from the bearer token's claims (unverified: this is a reference for
// the message path, and the check would happen once per connection anyway).
"use strict";
const { WebSocketServer } = require("ws");
const Redis = require("ioredis");

function flag(name) {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) throw new Error(`--${name} is required`);
  return process.argv[at + 1];
}

const port = Number(flag("port"));
const redis = new Redis({ host: "127.0.0.1", port: Number(flag("redis-port")) });
const prefix = flag("prefix");
const sha = flag("sha");
const NO_ERROR = '{"status":false,"code":0,"message":""}';

function caller(request) {
  const header = request.headers.authorization || "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  const claims = JSON.parse(Buffer.from(token.split(".")[1] || "e30", "base64url").toString());
  return String(claims.sub || "");
}

function reply(endpoint, event, data, error) {
  return `{"endpoint":${JSON.stringify(endpoint)},"event":${JSON.stringify(event ?? null)},"data":${data},"error":${error}}`;
}

const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });
server.on("connection", (ws, request) => {
  const user = caller(request);
  ws.send(reply("connection:ready", { id: "", date: new Date().toISOString() }, '{"lastEventId":""}', NO_ERROR));
  ws.on("message", async (message) => {
    let frame;
    try {
      frame = JSON.parse(message);
    } catch {
      ws.send(reply(null, null, "null", '{"status":true,"code":400,"message":"not valid JSON"}'));
      return;
    }
    const mid = String(frame.data?.meetingId ?? "");
    const now = Date.now();
    try {
      const [code, body] = await redis.evalsha(
        sha, 1, `${prefix}m:${mid}`, prefix, now, new Date(now).toISOString(), mid, user,
      );
      if (code === 0) {
        ws.send(reply(frame.endpoint, frame.event, `{"meeting":${body}}`, NO_ERROR));
      } else {
        ws.send(reply(frame.endpoint, frame.event, "null", JSON.stringify({ status: true, code, message: body })));
      }
    } catch (error) {
      ws.send(reply(frame.endpoint, frame.event, "null", JSON.stringify({ status: true, code: 503, message: String(error) })));
    }
  });
});
server.on("listening", () => console.log(`listening ${server.address().port}`));
