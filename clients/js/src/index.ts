// roomful-meetings-client: the browser (and Node) client of a Roomful Meetings server.
export {
  backoffDelay,
  ClientClosedError,
  ConnectionClosedError,
  MeetingsClient,
  MeetingsError,
  TimeoutError,
  TOKEN_EXPIRED,
  type ClientOptions,
  type Push,
  type PushEvent,
  type Status,
  type StatusDetail,
  type TokenSource,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./client.js";
export type { CallOptions } from "./options.js";
export * from "./generated.js";
