import { setMaxListeners } from "node:events";

/**
 * How many requests a frontend deploy keeps in flight, and what that costs in memory.
 *
 * Sized for latency, not for the emulator: a small asset's PutObject is about one round trip,
 * so a 2,000-file first deploy at 100 ms takes ~2,000 × 0.1 s / N — 25 s at 8 in flight,
 * ~4 s at 48. On a loopback emulator the server, not the client, bounds the rate, which is why
 * 8 once measured as fast as 16 there; over a real network it is the round trips that count.
 * 48 stays below the SDK's 50 sockets per client (more would only queue in its agent and make
 * it warn), leaving a few for the lock heartbeat and the other calls of the release.
 *
 * Memory stays bounded at that concurrency: a body up to BUFFERED_BODY_BYTES is read whole
 * (a Buffer the SDK can send again on a retry) — at most 48 × 256 KiB = 12 MiB at once — and a
 * larger one streams from disk through the approved-bytes hash with a known ContentLength and
 * ChecksumSHA256 (~128 KiB per stream), and at most LARGE_UPLOADS_IN_FLIGHT multipart uploads
 * (lib-storage holds 4 parts of 5 MiB each) run at once.
 *
 * Not a config key yet: `frontend.uploadConcurrency` would be its natural place.
 */
export const FRONTEND_UPLOAD_CONCURRENCY = 48;

/**
 * Used heap above which an asset upload phase asks for a full collection (core/heap-budget.ts):
 * ~35 MB is live during a 2,000-file deploy, so this leaves room for the requests in flight.
 */
export const UPLOAD_HEAP_BUDGET_BYTES = 56 * 1024 * 1024;

/** Bodies up to this are read whole; larger ones are streamed (see above). */
export const BUFFERED_BODY_BYTES = 256 * 1024;

/** Multipart uploads (files above SINGLE_PUT_LIMIT) at once, whatever the concurrency. */
export const LARGE_UPLOADS_IN_FLIGHT = 2;

/**
 * A signal for one phase of `concurrency` requests that each listen for an abort: it follows
 * `outer`, and allows that many listeners without Node's "possible EventTarget memory leak"
 * warning (the SDK adds one per request in flight and removes it when the request ends).
 */
export function phaseSignal(outer: AbortSignal, concurrency: number): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  setMaxListeners(concurrency * 2 + 8, controller.signal);
  const abort = () => controller.abort(outer.reason);
  if (outer.aborted) abort();
  else outer.addEventListener("abort", abort, { once: true });
  return { signal: controller.signal, done: () => outer.removeEventListener("abort", abort) };
}
