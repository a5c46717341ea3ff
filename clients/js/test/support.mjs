// A real world for the tests: a redis-server on a free loopback port, real
// `roomful-meetings serve` processes on it (fresh data folders), tokens, and a TCP proxy that
// can cut connections. Nothing here talks to a Redis it did not start.
//
// Which binaries: ROOMFUL_REDIS_SERVER (default: redis-server on PATH) and ROOMFUL_PYTHON
// (default: the repository's .venv/bin/python, running `-m roomful_meetings`). The pytest
// wrapper (tests/test_js_client.py) passes both.
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

export { WebSocket };
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const PYTHON = process.env.ROOMFUL_PYTHON ?? join(ROOT, ".venv/bin/python");
const REDIS_SERVER = process.env.ROOMFUL_REDIS_SERVER ?? "redis-server";
export const SECRET = "js-client-tests-secret-0123456789abcdef";

/** A free loopback port (bound and released; the caller binds it right after). */
export function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** Resolves with the first match of `pattern` in the process's output (stdout + stderr). */
function waitForLine(child, pattern, what) {
  return new Promise((done, fail) => {
    let seen = "";
    const onData = (chunk) => {
      seen += chunk.toString();
      const match = seen.match(pattern);
      if (match) {
        child.stdout.off("data", onData);
        child.stderr.off("data", onData);
        done(match);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => fail(new Error(`${what} exited (${code}) before it was ready:\n${seen}`)));
  });
}

function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once("exit", () => done());
    child.kill("SIGTERM");
  });
}

/** HS256 JWT, as `roomful-meetings token` mints them. */
export function token(user, { admin = false, ttl = 3600, exp, ...claims } = {}) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = { sub: user, exp: exp ?? Math.floor(Date.now() / 1000) + ttl, ...claims };
  if (admin) body.role = "admin";
  const unsigned = `${encode({ alg: "HS256", typ: "JWT" })}.${encode(body)}`;
  return `${unsigned}.${createHmac("sha256", SECRET).update(unsigned).digest("base64url")}`;
}

/** Start a world; `t.after` stops everything it started. */
export async function startWorld(t) {
  const folder = mkdtempSync(join(tmpdir(), "roomful-js-"));
  const children = [];
  t.after(async () => {
    await Promise.all(children.map(stop));
    rmSync(folder, { recursive: true, force: true });
  });

  const redisPort = await freePort();
  const redis = spawn(REDIS_SERVER, [
    "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
    "--dir", folder, "--maxmemory-policy", "noeviction",
  ]);
  children.push(redis);
  await waitForLine(redis, /Ready to accept connections/, "redis-server");
  const prefix = `js${randomBytes(4).toString("hex")}:`;

  /** One `roomful-meetings serve` (port 0 unless given); resolves once it listens. */
  async function startServer({ port = 0, args = [] } = {}) {
    const server = spawn(PYTHON, [
      "-m", "roomful_meetings", "serve", "--host", "127.0.0.1", "--port", String(port),
      "--redis-url", `redis://127.0.0.1:${redisPort}`, "--key-prefix", prefix,
      "--jwt-secret", SECRET, "--data-dir", mkdtempSync(join(folder, "var-")), ...args,
    ]);
    children.push(server);
    const [, listening] = await waitForLine(server, /listening on ws:\/\/[\d.]+:(\d+)/, "roomful-meetings serve");
    return { url: `ws://127.0.0.1:${listening}`, port: Number(listening), stop: () => stop(server) };
  }

  return { startServer, folder, redisPort };
}

/**
 * A TCP proxy in front of a server: `cut()` drops every connection through it (as a network
 * failure would), `hold()` stops passing the server's bytes to the clients (a reply lost on
 * the way), `requests` records each handshake's request line.
 */
export async function startProxy(t, target) {
  const pairs = new Set();
  const requests = [];
  let holding = false;
  const proxy = createServer((client) => {
    const upstream = tcpConnect(target, "127.0.0.1");
    const pair = { client, upstream };
    pairs.add(pair);
    let first = true;
    client.on("data", (chunk) => {
      if (first) requests.push(chunk.toString("latin1").split("\r\n")[0]);
      first = false;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!holding) client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise((done) => proxy.listen(0, "127.0.0.1", done));
  t.after(() => new Promise((done) => (proxy.close(() => done()), [...pairs].forEach((p) => p.client.destroy()))));
  return {
    url: `ws://127.0.0.1:${proxy.address().port}`,
    requests,
    hold: () => (holding = true),
    cut: () => {
      holding = false;
      for (const pair of [...pairs]) pair.client.destroy();
    },
  };
}

/** The next call of `register(callback)`'s callback, as a promise of its arguments. */
export function next(register, accept = () => true) {
  return new Promise((done) => {
    const remove = register((...args) => {
      if (accept(...args)) {
        remove();
        done(args);
      }
    });
  });
}
