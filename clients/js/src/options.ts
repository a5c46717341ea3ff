/** Per-request options of every endpoint method. */
export interface CallOptions {
  /**
   * The request's `event.id`. Leave it out: the client makes ids unique per user (a random
   * prefix per client), which the server's safe retries rely on.
   */
  eventId?: string;
  /** Give up after this many milliseconds (rejects with a TimeoutError; the server may still apply it). */
  timeoutMs?: number;
  /** Give up when this signal aborts (same caveat). */
  signal?: AbortSignal;
}
