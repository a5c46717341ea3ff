// The client: one websocket kept open (reconnecting with jittered backoff and since=),
// requests matched to replies by event.id, requests cut off by a drop resent with the same
// event.id (the server applies a change once), typed events. docs/protocol.md is the wire.
import { ENDPOINT_NAMES, EndpointMethods, type EndpointName, type Endpoints, type EventName, type Events } from "./generated.js";
import type { CallOptions } from "./options.js";

/** What the client needs of a WebSocket: the browser's, Node 22's, or the `ws` package's. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** A token, or a function asked for one before every connection (tokens expire). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ClientOptions {
  token: TokenSource;
  /** The WebSocket class; default `globalThis.WebSocket` (browsers, Node 22+). On Node 20 pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** Replay the events after this id on the first connection (later ones use the last event seen). */
  since?: string;
  /** Also receive the DEPRECATED events (`legacy=1`). */
  legacy?: boolean;
  /** Reconnection delays: each wait is drawn in [d/2, d], d doubling from `minDelayMs` up to `maxDelayMs`. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Source of the jitter (tests pass a fixed one). */
  random?: () => number;
  /** How many times a request cut off by a closed connection is sent again (default 2). */
  resends?: number;
}

/** The `event` of a push: its id (ordered per user) and when it happened. */
export interface PushEvent {
  id: string;
  date: string;
}

/** Any frame the server pushes, for `onAny`. */
export interface Push {
  endpoint: string;
  event: PushEvent;
  data: unknown;
}

export type Status = "connecting" | "open" | "disconnected" | "closed";

/**
 * Why a connection ended (with `disconnected`): its close code and reason. A token function
 * that threw or rejected is a failed attempt too: code 0, and what it threw in `error`.
 */
export interface StatusDetail {
  code: number;
  reason: string;
  error?: unknown;
}

/** A request the server answered with `error.status: true`. */
export class MeetingsError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly endpoint: string,
  ) {
    super(`${endpoint}: ${code} ${message}`);
    this.name = "MeetingsError";
  }
}

/** The client was closed (by `close()`, or because a static token expired) before a reply. */
export class ClientClosedError extends Error {
  constructor(message = "the client is closed") {
    super(message);
    this.name = "ClientClosedError";
  }
}

/**
 * A request whose connections closed before its reply, each time it was sent: a frame the
 * server refuses by closing (1009: larger than its limit) would otherwise be sent for ever.
 */
export class ConnectionClosedError extends Error {
  constructor(
    readonly endpoint: string,
    readonly code: number,
    readonly reason: string,
    sends: number,
  ) {
    super(`${endpoint}: the connection closed (${code}${reason ? ` ${reason}` : ""}) before a reply, ${sends} times`);
    this.name = "ConnectionClosedError";
  }
}

export class TimeoutError extends Error {
  constructor(endpoint: string, ms: number) {
    super(`${endpoint}: no reply within ${ms} ms (the server may still apply it)`);
    this.name = "TimeoutError";
  }
}

const REPLY_ENDPOINTS: ReadonlySet<string> = new Set(ENDPOINT_NAMES);

/** A connection open this long after ready was fine: the next reconnection waits the least. */
const STABLE_MS = 2_000;

/** Close code of a connection whose token expired: reconnect at once with a fresh token. */
export const TOKEN_EXPIRED = 4001;

interface Pending {
  endpoint: string;
  frame: string; // encoded once: a resend carries the very same event.id and date
  sends: number;
  resolve: (data: unknown) => void;
  reject: (error: Error) => void;
  cancel: () => void;
}

interface Frame {
  endpoint?: string | null;
  event?: { id?: unknown; date?: unknown } | null;
  data?: unknown;
  error?: { status?: boolean; code?: number; message?: string } | null;
}

interface Outcome {
  wasReady: boolean;
  readyMs: number; // how long it stayed open after connection:ready
  reason: string;
  code: number;
}

type Handler = (data: never, event: PushEvent) => void;

export class MeetingsClient extends EndpointMethods {
  /** The id of the newest event seen: the next connection asks for what followed it. */
  lastEventId: string | undefined;
  /** Connections opened after the first one. */
  reconnects = 0;
  private readonly WebSocketClass: WebSocketConstructor;
  private readonly pending = new Map<string, Pending>();
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly anyHandlers = new Set<(push: Push) => void>();
  private readonly statusHandlers = new Set<(status: Status, detail?: StatusDetail) => void>();
  private readonly idPrefix = randomPrefix();
  private nextId = 1;
  private socket: WebSocketLike | null = null;
  private open = false;
  private closed = false;
  private wake: (() => void) | null = null;
  private lastClose: Outcome | null = null;
  private readonly stopped: Promise<void>;

  constructor(
    readonly url: string,
    private readonly options: ClientOptions,
  ) {
    super();
    const found = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!found) {
      throw new TypeError("no WebSocket here (Node before 22): pass { WebSocket } from the ws package");
    }
    this.WebSocketClass = found;
    this.lastEventId = options.since;
    this.stopped = this.run();
  }

  /** True while a connection is open and `connection:ready` has arrived on it. */
  get connected(): boolean {
    return this.open;
  }

  /** Send one request (it waits for a connection); its reply's `data`, or a MeetingsError. */
  call<E extends EndpointName>(
    endpoint: E,
    data: Endpoints[E]["request"],
    options: CallOptions = {},
  ): Promise<Endpoints[E]["reply"]> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    const id = options.eventId ?? `${this.idPrefix}-${this.nextId++}`;
    const { frame, loneSurrogate } = encode({ endpoint, data, event: { id, date: new Date().toISOString() } });
    if (loneSurrogate !== undefined) {
      // JSON.stringify writes it as "\ud83c", which is not JSON text to the server: it would
      // answer 400 with event null (unreadable), a reply no request could be matched to.
      const message = `${loneSurrogate} holds a lone surrogate (half of a UTF-16 pair, as in text cut in the middle of an emoji): not valid JSON, not sent`;
      return Promise.reject(new MeetingsError(400, message, endpoint));
    }
    return new Promise((resolve, reject) => {
      const timers: Array<() => void> = [];
      const settle = (): void => {
        this.pending.delete(id);
        timers.forEach((stop) => stop());
      };
      const entry: Pending = {
        endpoint,
        frame,
        sends: 0,
        resolve: (reply) => (settle(), resolve(reply as Endpoints[E]["reply"])),
        reject: (error) => (settle(), reject(error)),
        cancel: settle,
      };
      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        const timer = setTimeout(() => entry.reject(new TimeoutError(endpoint, ms)), ms);
        timers.push(() => clearTimeout(timer));
      }
      if (options.signal) {
        const signal = options.signal;
        const abort = (): void => entry.reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
        if (signal.aborted) return abort();
        signal.addEventListener("abort", abort, { once: true });
        timers.push(() => signal.removeEventListener("abort", abort));
      }
      this.pending.set(id, entry);
      if (this.open) this.send(entry);
    });
  }

  /** Call `handler` for every push of this name, across reconnections; returns its remover. */
  on<N extends EventName>(name: N, handler: (data: Events[N], event: PushEvent) => void): () => void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(handler as Handler);
    return () => set.delete(handler as Handler);
  }

  /** Every push, whatever its name (also events this client version does not know). */
  onAny(handler: (push: Push) => void): () => void {
    this.anyHandlers.add(handler);
    return () => this.anyHandlers.delete(handler);
  }

  /**
   * connecting (from asking for the token on), open (ready), disconnected (with the close
   * code; code 0 and `error` when the token function failed), closed (for good).
   */
  onStatus(handler: (status: Status, detail?: StatusDetail) => void): () => void {
    this.statusHandlers.add(handler);
    return () => this.statusHandlers.delete(handler);
  }

  /** Close for good: requests waiting for a reply reject with ClientClosedError. */
  async close(): Promise<void> {
    this.shutDown(new ClientClosedError());
    await this.stopped;
  }

  // -- the connection loop -------------------------------------------------------------------

  private async run(): Promise<void> {
    const min = this.options.minDelayMs ?? 250;
    const max = this.options.maxDelayMs ?? 10_000;
    const random = this.options.random ?? Math.random;
    let attempt = 0;
    let first = true;
    while (!this.closed) {
      this.emitStatus("connecting"); // asking for the token is part of it
      let token: string;
      try {
        token = await this.token();
      } catch (error) {
        if (this.closed) break;
        // A failed connection attempt, not the end: a token function that fetches from a
        // backend fails while the network is down, as the connection does. What waits keeps
        // waiting (each request has its own timeoutMs); close() gives up.
        const reason = `the token function failed: ${error instanceof Error ? error.message : String(error)}`;
        this.emitStatus("disconnected", { code: 0, reason, error });
        await this.sleep(backoffDelay(attempt++, min, max, random));
        continue;
      }
      if (this.closed) break;
      if (!first) this.reconnects++;
      first = false;
      const outcome = await this.connectOnce(token);
      if (this.closed) break;
      // Back to the shortest wait only after a connection that lasted: one closed right
      // after ready (refused frames, an overloaded server) backs off like a failed one.
      if (outcome.readyMs >= STABLE_MS) attempt = 0;
      this.lastClose = outcome;
      if (outcome.code === TOKEN_EXPIRED) {
        if (typeof this.options.token === "string") {
          this.shutDown(new ClientClosedError("the token expired (4001): pass a token function to renew it"));
          break;
        }
        continue; // straight back with a fresh token: the connection itself was fine
      }
      await this.sleep(backoffDelay(attempt++, min, max, random));
    }
    this.emitStatus("closed");
  }

  private token(): Promise<string> {
    const source = this.options.token;
    return Promise.resolve(typeof source === "function" ? source() : source);
  }

  private address(token: string): string {
    const url = new URL(this.url);
    url.searchParams.set("token", token);
    if (this.lastEventId !== undefined) url.searchParams.set("since", this.lastEventId);
    if (this.options.legacy) url.searchParams.set("legacy", "1");
    return url.toString();
  }

  /** One connection, from the handshake to its close. */
  private connectOnce(token: string): Promise<Outcome> {
    return new Promise((resolve) => {
      let socket: WebSocketLike;
      try {
        socket = new this.WebSocketClass(this.address(token));
      } catch {
        resolve({ wasReady: false, readyMs: 0, code: 0, reason: "" }); // a malformed URL stays malformed: the backoff slows it
        return;
      }
      this.socket = socket;
      let wasReady = false;
      let readyAt = 0;
      socket.onmessage = (message) => {
        const frame = parse(message.data);
        if (frame === null) return;
        if (frame.endpoint === "connection:ready" && !wasReady) {
          wasReady = true;
          readyAt = Date.now();
          this.onReady(frame);
        }
        this.onFrame(frame);
      };
      socket.onerror = () => {}; // a close event follows; its code is what matters
      socket.onclose = (event) => {
        this.socket = null;
        this.open = false;
        socket.onmessage = socket.onclose = null;
        this.emitStatus("disconnected", { code: event.code, reason: event.reason });
        resolve({ wasReady, readyMs: wasReady ? Date.now() - readyAt : 0, code: event.code, reason: event.reason });
      };
      if (this.closed) socket.close(1000);
    });
  }

  private onReady(frame: Frame): void {
    // Replayed events follow connection:ready, so its id only matters for a first connection
    // that has seen nothing yet: taking it later could skip the rest of a replay.
    const data = frame.data as Events["connection:ready"] | null;
    if (this.lastEventId === undefined && data) this.lastEventId = data.lastEventId;
    this.open = true;
    this.emitStatus("open");
    const limit = (this.options.resends ?? 2) + 1;
    for (const request of [...this.pending.values()]) {
      if (request.sends < limit) this.send(request);
      else {
        const { code, reason } = this.lastClose ?? { code: 0, reason: "" };
        request.reject(new ConnectionClosedError(request.endpoint, code, reason, request.sends));
      }
    }
  }

  private send(request: Pending): void {
    request.sends++;
    this.socket?.send(request.frame);
  }

  private onFrame(frame: Frame): void {
    const id = typeof frame.event?.id === "string" ? frame.event.id : "";
    const request = this.pending.get(id);
    if (request) {
      if (frame.error?.status) {
        request.reject(new MeetingsError(frame.error.code ?? 0, frame.error.message ?? "", request.endpoint));
      } else {
        request.resolve(frame.data ?? {});
      }
      return;
    }
    if (typeof frame.endpoint !== "string" || !frame.event) return; // not a push
    // A reply nobody waits for any more (timed out, aborted): never an event, and its id
    // must not become lastEventId (the next since= would be unknown to the server).
    if (REPLY_ENDPOINTS.has(frame.endpoint) || id.startsWith(`${this.idPrefix}-`)) return;
    const event: PushEvent = { id, date: String(frame.event.date ?? "") };
    // Forward only: on a legacy connection a deprecated twin may come after a later event.
    if (id && !frame.endpoint.startsWith("connection:") && isLater(id, this.lastEventId)) this.lastEventId = id;
    for (const handler of this.handlers.get(frame.endpoint) ?? []) {
      safely(() => handler(frame.data as never, event));
    }
    for (const handler of this.anyHandlers) {
      safely(() => handler({ endpoint: frame.endpoint as string, event, data: frame.data }));
    }
  }

  private shutDown(reason: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    this.socket?.close(1000);
    this.wake?.();
    for (const request of [...this.pending.values()]) request.reject(reason);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => ((this.wake = null), resolve()), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private emitStatus(status: Status, detail?: StatusDetail): void {
    for (const handler of this.statusHandlers) safely(() => handler(status, detail));
  }
}

/**
 * The wait before reconnection attempt `attempt` (0 first): d = min(minMs * 2^attempt, maxMs),
 * drawn in [d/2, d] so that clients dropped together (a server restart) do not all come back
 * in the same instant.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(minMs * 2 ** attempt, maxMs);
  return ceiling * (0.5 + random() / 2);
}

/** Whether `text` is well-formed UTF-16 (no lone surrogate): isWellFormed, or a regex before ES2024. */
const wellFormed: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (text) => (text as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (text) => !/\p{Cs}/u.test(text); // with /u a surrogate pair is one code point: only lone halves match

/**
 * The frame as JSON text, and where the first string (a value or a key) holding a lone
 * surrogate is, as a path like `data.users[0].firstName`. The replacer sees what
 * JSON.stringify writes (after toJSON) and returns it unchanged.
 */
function encode(message: object): { frame: string; loneSurrogate?: string } {
  const paths = new WeakMap<object, string>();
  let loneSurrogate: string | undefined;
  const frame = JSON.stringify(message, function (this: unknown, key: string, value: unknown) {
    if (loneSurrogate !== undefined) return value;
    const holder = typeof this === "object" && this !== null ? paths.get(this) : undefined;
    const path = holder === undefined ? "" : Array.isArray(this) ? `${holder}[${key}]` : holder ? `${holder}.${key}` : key;
    if (!wellFormed(key)) loneSurrogate = `a key of ${holder || "the frame"} (${JSON.stringify(key)})`;
    else if (typeof value === "string" && !wellFormed(value)) loneSurrogate = `the string at ${path}`;
    else if (typeof value === "object" && value !== null) paths.set(value, path);
    return value;
  });
  return loneSurrogate === undefined ? { frame } : { frame, loneSurrogate };
}

function parse(data: unknown): Frame | null {
  try {
    const frame: unknown = JSON.parse(typeof data === "string" ? data : String(data));
    return typeof frame === "object" && frame !== null ? (frame as Frame) : null;
  } catch {
    return null;
  }
}

/** A handler that throws must not break delivery to the others (nor the connection). */
function safely(run: () => void): void {
  try {
    run();
  } catch (error) {
    const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
    (report ?? console.error)(error); // browsers: reportError, as for an event listener
  }
}

/** A random prefix per client: event ids must be unique per user, across tabs and devices. */
function randomPrefix(): string {
  const bytes = new Uint8Array(8);
  const crypto = (globalThis as { crypto?: { getRandomValues(a: Uint8Array): Uint8Array } }).crypto;
  if (crypto) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return "js-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether event id `id` ("<ms>-<seq>") comes after `than` (or there is none yet). */
function isLater(id: string, than: string | undefined): boolean {
  if (!than) return true;
  const [ms, seq] = idParts(id);
  const [thanMs, thanSeq] = idParts(than);
  return ms > thanMs || (ms === thanMs && seq > thanSeq);
}

function idParts(id: string): [bigint, bigint] {
  const match = /^(\d+)-(\d+)$/.exec(id);
  return match ? [BigInt(match[1] ?? "0"), BigInt(match[2] ?? "0")] : [0n, 0n];
}
