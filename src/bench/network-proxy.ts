import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Cleanup } from "./cleanup.js";

/**
 * The network between a user and AWS, in front of moto. Every request of both sides of a
 * scenario (our server through AWS_ENDPOINT_URL, the aws CLI through --endpoint-url) crosses
 * this one proxy, so ours and the baseline meet the same link in the same run.
 *
 * The model, per request (README, "The network model"):
 * - a new client connection pays CONNECT_RTTS round trips before its first request (TCP
 *   handshake + a TLS 1.3 handshake, as to a real AWS endpoint; loopback pays them on nothing);
 * - `Expect: 100-continue` (botocore on every upload; the JS SDK on bodies ≥ 2 MB) pays one
 *   round trip before the body may be sent, as S3 answers 100 Continue only after the headers
 *   reached it;
 * - the request body crosses an upload link of `bandwidthMbit`, one link shared by every
 *   connection (a strict token bucket: no request and no degree of concurrency gets more than
 *   the link), stored and then forwarded, so moto's own time is not mixed into the link's;
 * - one round trip (`rttMs`) per request: the request's way there and the answer's way back;
 * - answers come back at loopback speed (downloads are not capped).
 * Not modelled: TCP slow start and per-connection windows, packet loss, AWS's own service times.
 */
export interface NetworkShape {
  /** "loopback", "40ms", "100ms": the column of the results table. */
  id: string;
  rttMs: number;
  /** Upload cap in Mbit/s; null: no cap (loopback). */
  bandwidthMbit: number | null;
}

export const LOOPBACK: NetworkShape = { id: "loopback", rttMs: 0, bandwidthMbit: null };

/** TCP (1 RTT) + TLS 1.3 (1 RTT) before the first request on a connection. */
export const CONNECT_RTTS = 2;

/** Bodies cross the link in pieces of this size, so concurrent uploads share it by turns. */
const PIECE_BYTES = 16 * 1024;

/** One request as the proxy saw it. */
export interface RequestRecord {
  /** `METHOD /path?query`. */
  line: string;
  /** Request body bytes that crossed the link. */
  bytesUp: number;
  /** When the request went to moto and when moto's answer ended (performance.now()). */
  upstreamStart: number;
  upstreamEnd: number;
  /** When the request's headers reached the proxy (performance.now()). */
  arrived: number;
  /** The first request on its connection: it paid the handshake's round trips. */
  newConnection: boolean;
  /** It waited for `100 Continue`: one more round trip before its body. */
  expectContinue: boolean;
}

/** What one side of one measured run sent through the proxy. */
export interface Traffic {
  records: RequestRecord[];
  requests: number;
  bytesUp: number;
  /**
   * Wall time during which moto had at least one request of this window in hand (union of
   * the forward → answer-end intervals): the emulator's share of the figure, a floor that no
   * client can go below on this machine.
   */
  motoBusyMs: number;
}

export interface NetworkProxy {
  endpoint: string;
  /** The shape in force. */
  shape(): NetworkShape;
  /** Switches the shape for the next requests; every open connection pays its handshake again. */
  setShape(shape: NetworkShape): void;
  /** Starts a window over the request log; `end()` returns what crossed the proxy since. */
  window(): { end(): Traffic };
  /** Sends the next requests to another emulator (a scenario that starts from a fresh one). */
  retarget(target: string): void;
  /** Every request since the start (the log is kept for the whole run). */
  readonly log: RequestRecord[];
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers))
    if (!HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
  return out;
}

const sleep = (ms: number) =>
  ms >= 0.5 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve();

/**
 * A token bucket one piece deep in time: a link that was idle for up to BURST_MS may catch
 * up by that much, so a timer that wakes late does not cost the link capacity.
 */
const BURST_MS = 10;

/** A serial link: each piece waits until the link has carried every piece reserved before it. */
class UploadLink {
  private freeAt = 0;
  private readonly bytesPerMs: number;
  constructor(mbit: number) {
    this.bytesPerMs = (mbit * 1e6) / 8 / 1000;
  }
  /** Reserves the link for `bytes`; returns how long until they have crossed it. */
  reserve(bytes: number): number {
    const now = performance.now();
    this.freeAt = Math.max(now - BURST_MS, this.freeAt) + bytes / this.bytesPerMs;
    return Math.max(0, this.freeAt - now);
  }
}

/** Reads a request body across the link; returns it whole. */
async function receiveBody(incoming: IncomingMessage, link: UploadLink | null): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    for (let offset = 0; offset < chunk.length; offset += PIECE_BYTES) {
      const piece = chunk.subarray(offset, offset + PIECE_BYTES);
      if (link) await sleep(link.reserve(piece.length));
      pieces.push(piece);
    }
  }
  return Buffer.concat(pieces);
}

/** Union of [start, end] intervals, in ms. */
export function busyTime(records: Array<Pick<RequestRecord, "upstreamStart" | "upstreamEnd">>): number {
  const spans = records
    .filter((r) => r.upstreamEnd >= r.upstreamStart && r.upstreamStart > 0)
    .map((r) => [r.upstreamStart, r.upstreamEnd] as const)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let from = Number.NEGATIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const [start, end] of spans) {
    if (start > to) {
      if (to > from) total += to - from;
      from = start;
      to = end;
    } else if (end > to) to = end;
  }
  if (to > from) total += to - from;
  return total;
}

export async function startNetworkProxy(
  target: string,
  cleanup: Cleanup,
  initial: NetworkShape = LOOPBACK,
): Promise<NetworkProxy> {
  let upstream = new URL(target);
  const log: RequestRecord[] = [];
  let shape = initial;
  let link = initial.bandwidthMbit ? new UploadLink(initial.bandwidthMbit) : null;
  /** Client connections that have not carried a request yet: they still owe the handshake. */
  const fresh = new WeakSet<Socket>();
  const open = new Set<Socket>();

  const forward = (
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    body: Buffer,
    record: RequestRecord,
  ) => {
    const headers = endToEnd(incoming.headers);
    if (body.length > 0 || incoming.headers["content-length"] !== undefined)
      headers["content-length"] = String(body.length);
    record.upstreamStart = performance.now();
    const toMoto = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers,
        agent: false,
      },
      (answer) => {
        // moto closes every connection after its answer; the client's connection (its AWS
        // connection in this model) stays open, as AWS keeps it.
        outgoing.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.on("end", () => {
          record.upstreamEnd = performance.now();
        });
        answer.pipe(outgoing);
      },
    );
    toMoto.on("error", (error) => {
      record.upstreamEnd = performance.now();
      if (!outgoing.headersSent) outgoing.writeHead(502);
      outgoing.end(String(error));
    });
    toMoto.end(body);
  };

  const handle = async (incoming: IncomingMessage, outgoing: ServerResponse, expectsContinue: boolean) => {
    const now = shape;
    const nowLink = link;
    const record: RequestRecord = {
      line: `${incoming.method} ${incoming.url}`,
      bytesUp: 0,
      upstreamStart: 0,
      upstreamEnd: 0,
      arrived: performance.now(),
      newConnection: fresh.has(incoming.socket),
      expectContinue: expectsContinue,
    };
    log.push(record);
    try {
      const connect = fresh.has(incoming.socket) ? CONNECT_RTTS * now.rttMs : 0;
      fresh.delete(incoming.socket);
      if (expectsContinue) {
        // The headers go there, 100 Continue comes back: one round trip before the body.
        await sleep(connect + now.rttMs);
        outgoing.writeContinue();
        const body = await receiveBody(incoming, nowLink);
        record.bytesUp = body.length;
        await sleep(now.rttMs);
        forward(incoming, outgoing, body, record);
      } else {
        await sleep(connect);
        const body = await receiveBody(incoming, nowLink);
        record.bytesUp = body.length;
        await sleep(now.rttMs);
        forward(incoming, outgoing, body, record);
      }
    } catch (error) {
      record.upstreamEnd = performance.now();
      if (!outgoing.headersSent) outgoing.writeHead(502);
      outgoing.end(String(error));
    }
  };

  const server = createServer();
  // AWS keeps an idle connection for about 20 s; the proxy must not be the one that closes
  // a pooled connection mid-column and charge a handshake the real service would not.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 120_000;
  server.requestTimeout = 15 * 60_000;
  server.on("connection", (socket: Socket) => {
    fresh.add(socket);
    open.add(socket);
    socket.once("close", () => open.delete(socket));
  });
  server.on("request", (incoming, outgoing) => void handle(incoming, outgoing, false));
  server.on("checkContinue", (incoming, outgoing) => void handle(incoming, outgoing, true));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const stop = cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    shape: () => shape,
    setShape(next) {
      shape = next;
      link = next.bandwidthMbit ? new UploadLink(next.bandwidthMbit) : null;
      // A new column starts cold: every open connection owes its handshake again. Closing them
      // instead would race a client reusing a pooled socket (ECONNRESET, a retry, noise).
      for (const socket of open) fresh.add(socket);
    },
    retarget(target) {
      upstream = new URL(target);
    },
    window() {
      const from = log.length;
      return {
        end() {
          const records = log.slice(from);
          return {
            records,
            requests: records.length,
            bytesUp: records.reduce((sum, r) => sum + r.bytesUp, 0),
            motoBusyMs: busyTime(records),
          };
        },
      };
    },
    log,
    stop,
  };
}
