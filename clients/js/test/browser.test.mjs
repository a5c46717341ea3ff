// examples/web in a real headless Chromium against a real server: alice creates a meeting in
// one browser context, bob (another context) sees it arrive live and accepts, alice sees it.
// Chromium: CHROMIUM (default /usr/bin/chromium, Debian's `chromium` package).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { MeetingsClient } from "../dist/index.js";
import { PYTHON, ROOT, SECRET, WebSocket, startWorld, token } from "./support.mjs";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".map": "application/json" };
const SERVED = ["/examples/web/", "/clients/js/dist/"]; // nothing else of the repository

/** The README's browser snippet, as pasted, pointed at this test's server. */
function readmeSnippet(serverUrl) {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Web apps"));
  const snippet = section.slice(section.indexOf("```html\n") + 8, section.indexOf("\n```", section.indexOf("```html")));
  assert.match(snippet, /ws:\/\/127\.0\.0\.1:8765/);
  return snippet.replace("ws://127.0.0.1:8765", serverUrl);
}

/** A static server for the page and the built client (and /hello.html), on loopback only. */
async function serveStatic(t, pages = {}) {
  const server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
    if (path in pages) {
      response.writeHead(200, { "content-type": "text/html" }).end(pages[path]());
      return;
    }
    const file = join(ROOT, path.endsWith("/") ? path + "index.html" : path);
    if (!SERVED.some((prefix) => path.startsWith(prefix)) || !existsSync(file)) {
      response.writeHead(404).end("not found");
      return;
    }
    response.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    response.end(readFileSync(file));
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  t.after(() => new Promise((done) => server.close(done)));
  return `http://127.0.0.1:${server.address().port}`;
}

/** A token as a person gets one: from `roomful-meetings token`. */
async function cliToken(user) {
  const run = promisify(execFile);
  const { stdout } = await run(PYTHON, ["-m", "roomful_meetings", "token", "--user", user, "--jwt-secret", SECRET]);
  return stdout.trim();
}

const needsChromium = { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)` };

async function seededServer(t, world, site) {
  // The page's origin is the only one allowed: the browser's handshakes pass the Origin check.
  const server = await world.startServer({ args: ["--allowed-origins", site] });
  const admin = new MeetingsClient(server.url, { token: token("root", { admin: true }), WebSocket });
  await admin.upsertUsers({ users: [{ id: "alice", firstName: "Alice" }, { id: "bob", firstName: "Bob" }] });
  await admin.upsertRooms({ rooms: [{ id: "lobby", networkId: "n1", title: "Lobby" }] });
  await admin.close();
  return server;
}

async function launch(t) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  return browser;
}

async function signIn(browser, site, serverUrl, user) {
  const context = await browser.newContext({ timezoneId: "UTC", locale: "en-GB" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`${site}/examples/web/`);
  await page.fill("#sign-in [name=url]", serverUrl);
  await page.fill("#sign-in [name=token]", await cliToken(user));
  await page.click("#sign-in button");
  await page.locator('#status[data-status="open"]').waitFor();
  await page.fill("#week", "2030-01-07");
  await page.dispatchEvent("#week", "change");
  return { page, errors };
}

test("two users in two browser contexts: meetings arrive live, are accepted or declined, and the organizer sees it", needsChromium, async (t) => {
  const world = await startWorld(t);
  const site = await serveStatic(t);
  const server = await seededServer(t, world, site);
  const browser = await launch(t);
  const alice = await signIn(browser, site, server.url, "alice");
  const bob = await signIn(browser, site, server.url, "bob");

  // Bob sets office hours; alice finds the free time they share on Monday.
  await bob.page.click("#set-office-hours");
  await bob.page.locator("#availability li", { hasText: "Available: Mon 7 Jan, 09:00" }).waitFor();
  await alice.page.fill("#slots [name=users]", "bob");
  await alice.page.fill("#slots [name=day]", "2030-01-07");
  await alice.page.click("#slots button");
  await alice.page.locator("#free-slots li", { hasText: "Mon 7 Jan, 09:00 - Mon 7 Jan, 17:00" }).waitFor();

  // Alice creates; bob's page shows it without reloading and he accepts.
  await alice.page.fill("#create [name=subject]", "Design review");
  await alice.page.fill("#create [name=invited]", "bob");
  await alice.page.fill("#create [name=start]", "2030-01-07T10:00");
  await alice.page.click("#create button");
  const atBob = bob.page.locator('#meetings li[data-subject="Design review"]');
  await atBob.locator(".participants", { hasText: "bob: received" }).waitFor();
  await bob.page.locator("#events li", { hasText: "meeting:onMeetingCreated Design review" }).waitFor();
  await atBob.getByRole("button", { name: "Accept" }).click();

  // Alice's page follows: bob's acceptance arrives as meeting:onMeetingUpdated.
  const atAlice = alice.page.locator('#meetings li[data-subject="Design review"]');
  await atAlice.locator(".participants", { hasText: "bob: accepted" }).waitFor();
  await alice.page.locator("#events li", { hasText: "meeting:onMeetingUpdated Design review" }).waitFor();
  assert.equal(await atAlice.getByRole("button").count(), 0, "the organizer gets no accept/decline buttons");
  await atBob.getByRole("button", { name: "Accept" }).and(bob.page.locator("[disabled]")).waitFor();

  // And a decline travels the same way.
  await alice.page.fill("#create [name=subject]", "Retro");
  await alice.page.fill("#create [name=invited]", "bob");
  await alice.page.fill("#create [name=start]", "2030-01-08T15:00");
  await alice.page.click("#create button");
  await bob.page.locator('#meetings li[data-subject="Retro"]').getByRole("button", { name: "Decline" }).click();
  await alice.page.locator('#meetings li[data-subject="Retro"] .participants', { hasText: "bob: declined" }).waitFor();
  assert.equal(await bob.page.textContent("#error"), "");
  assert.deepEqual([...alice.errors, ...bob.errors], []);
});

test("the README's browser snippet works as pasted: a reply and the event", needsChromium, async (t) => {
  const world = await startWorld(t);
  let snippet = "";
  const site = await serveStatic(t, { "/hello.html": () => snippet });
  const server = await seededServer(t, world, site);
  snippet = readmeSnippet(server.url);
  const browser = await launch(t);
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(`${site}/hello.html?token=${await cliToken("alice")}`);
  await page.locator("body", { hasText: "event: Hello from a browser created" }).waitFor();
  assert.match(await page.textContent("body"), /reply: meeting [\w-]+/);
  assert.deepEqual(errors, []);
});

test("the browser's Origin is checked: the page's origin connects, another allow-list refuses it", needsChromium, async (t) => {
  const world = await startWorld(t);
  const site = await serveStatic(t);
  const allowing = await world.startServer({ args: ["--allowed-origins", site] });
  const refusing = await world.startServer({ args: ["--allowed-origins", "https://app.example"] });
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(`${site}/examples/web/`);
  const jwt = await cliToken("alice");
  const attempt = (url) =>
    page.evaluate(
      (address) =>
        new Promise((done) => {
          const ws = new WebSocket(address);
          ws.onopen = () => (done("open"), ws.close());
          ws.onclose = (event) => done(`closed ${event.code}`);
        }),
      `${url}/?token=${jwt}`,
    );
  assert.equal(await attempt(allowing.url), "open");
  assert.equal(await attempt(refusing.url), "closed 1006"); // the handshake got 403: no websocket
});
