import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from "node:http";
import type { Socket } from "node:net";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll } from "vitest";
import { type AwsClients, createAwsClients } from "../../src/aws/clients.js";
import { freeLoopbackPort } from "../../src/emulator/moto.js";
import type { Moto } from "./moto.js";

/**
 * An HTTP proxy between the SDK clients and moto that answers chosen requests with AWS errors,
 * broken connections, delays or silence, so tests can see what the product does when AWS
 * misbehaves at an exact request, and read back what moto was left with.
 */

export type FaultAction =
  /** An AWS-shaped error answer in the request's protocol; the request is not forwarded. */
  | { kind: "fail"; status: number; code: string; message?: string }
  /** Resets the client's connection; the request never reaches moto. */
  | { kind: "reset" }
  /** Forwards after a delay. */
  | { kind: "delay"; ms: number }
  /** Forwards, waits for moto's whole answer (the change is applied), then resets the client's connection. */
  | { kind: "drop-answer" }
  /** Holds the request unforwarded until the rule's release() (then forwards it) or the proxy's stop(). */
  | { kind: "hang" };

export interface RequestMatch {
  /** From the SigV4 credential scope: "s3", "lambda", "cloudfront", "logs", "sts", "dynamodb", "iam". */
  service?: string;
  operation?: string | RegExp;
  method?: string;
  /** The decoded URL path, without the query. */
  path?: string | RegExp;
  /** S3 path style: /bucket/key. */
  bucket?: string;
  key?: string | RegExp;
  /**
   * Substring of the request body as utf8, decompressed when it is sent with Content-Encoding
   * gzip (a large release record) (count() sees only the first MiB of each body).
   */
  bodyIncludes?: string;
  /** Header names in lower case. */
  header?: Record<string, string | RegExp>;
}

/**
 * Rules are tried in the order they were added; the first that takes a request applies its
 * action. A rule that lets a request pass (skip, probability, spent times or forMs) leaves it
 * to the later rules.
 */
export interface FaultRule {
  match: RequestMatch;
  action: FaultAction;
  /** Applies to at most this many requests (default: unlimited). */
  times?: number;
  /** Lets the first N matching requests pass. */
  skip?: number;
  /** Active only this long after its first hit. */
  forMs?: number;
  /** 0..1, drawn from a PRNG seeded by the proxy's seed and the rule's number: deterministic. */
  probability?: number;
}

export interface RequestRecord {
  seq: number;
  method: string;
  path: string;
  query: string;
  service: string;
  operation: string;
  bucket?: string;
  key?: string;
  /** The status the client got; for drop-answer the status moto answered (the client got none); null for none. */
  status: number | null;
  fault: FaultAction["kind"] | null;
  /** Arrival, epoch ms. */
  at: number;
}

export interface RuleHandle {
  readonly hits: number;
  /**
   * Resolves with the record of the nth hit (default 1) — use to act at the exact moment a
   * request arrives (e.g. SIGKILL a server). For drop-answer it resolves after moto answered.
   */
  waitForHit(n?: number): Promise<RequestRecord>;
  /** Answers every request held by a hang rule (forwards it) and stops the rule. */
  release(): void;
  remove(): void;
}

export interface FaultProxy {
  readonly endpoint: string;
  add(rule: FaultRule): RuleHandle;
  /** Removes every rule; held requests stay held until their release() or stop(). */
  clear(): void;
  readonly log: readonly RequestRecord[];
  /** Count of logged requests matching. */
  count(match: RequestMatch): number;
  /** The product's AwsClients pointed at the proxy (like Moto.clients()); destroyed by stop(). */
  clients(region?: string, options?: { maxAttempts?: number }): AwsClients;
  stop(): Promise<void>;
}

const MAX_BODY = 256 * 1024 * 1024;
/** What count() keeps of a body: enough for bodyIncludes on the small bodies tests send. */
const KEPT_BODY = 1024 * 1024;
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
  // The proxy has read the whole body already, so moto must not wait to be asked for it.
  "expect",
]);

/** One request as the proxy saw it: what rules and count() match on. */
interface Seen {
  record: RequestRecord;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface Exchange extends Seen {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

export async function startFaultProxy(target: string, options: { seed?: number } = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  // A fresh connection to moto per request: reusing one moto has closed would reset a client.
  const agent = new Agent({ keepAlive: false });
  const seed = options.seed ?? 1;
  const rules: RuleState[] = [];
  const log: RequestRecord[] = [];
  const seen: Seen[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const made: AwsClients[] = [];
  let ruleCount = 0;
  let stopped = false;

  function forward(ex: Exchange, dropAnswer = false): Promise<void> {
    return new Promise((resolve) => {
      if (stopped) return resolve();
      const headers = withoutHopByHop(ex.headers);
      if (ex.body.length > 0 || ex.headers["content-length"] !== undefined)
        headers["content-length"] = String(ex.body.length);
      const up = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: ex.record.method,
          path: ex.incoming.url,
          headers,
          agent,
        },
        (answer) => {
          ex.record.status = answer.statusCode ?? null;
          answer.on("error", () => cut(ex.incoming.socket));
          answer.on("close", () => resolve());
          if (dropAnswer) {
            answer.on("end", () => cut(ex.incoming.socket));
            answer.resume();
            return;
          }
          ex.outgoing.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
          answer.pipe(ex.outgoing);
        },
      );
      // moto unreachable (or killed by the test): the client sees its connection break, as it would.
      up.on("error", () => {
        ex.record.status = null;
        cut(ex.incoming.socket);
        resolve();
      });
      up.end(ex.body);
    });
  }

  function pick(s: Seen): { rule: RuleState; n: number } | undefined {
    const now = Date.now();
    for (const rule of rules) {
      if (rule.done || !matches(rule.spec.match, s)) continue;
      const { times, forMs, skip = 0, probability } = rule.spec;
      if (times !== undefined && rule.hits >= times) continue;
      if (forMs !== undefined && rule.firstHitAt !== undefined && now - rule.firstHitAt >= forMs) continue;
      if (rule.skipped < skip) {
        rule.skipped++;
        continue;
      }
      if (probability !== undefined && rule.random() >= probability) continue;
      rule.hits++;
      rule.firstHitAt ??= now;
      return { rule, n: rule.hits };
    }
    return undefined;
  }

  async function handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const body = await readBody(incoming);
    if (body === null) {
      outgoing.writeHead(413, { connection: "close" }).end();
      return;
    }
    const record: RequestRecord = { seq: log.length + 1, ...describe(incoming, body), at: Date.now() };
    const ex: Exchange = { record, headers: incoming.headers, body, incoming, outgoing };
    log.push(record);
    seen.push({
      record,
      headers: incoming.headers,
      body: body.length > KEPT_BODY ? Buffer.from(body.subarray(0, KEPT_BODY)) : body,
    });
    const hit = pick(ex);
    if (!hit) return forward(ex);
    const { rule, n } = hit;
    const action = rule.spec.action;
    record.fault = action.kind;
    switch (action.kind) {
      case "fail": {
        const answer = errorAnswer(ex, action);
        record.status = action.status;
        outgoing.writeHead(action.status, answer.headers).end(answer.body);
        return rule.settle(n, record);
      }
      case "reset":
        cut(incoming.socket);
        return rule.settle(n, record);
      case "delay": {
        const timer = setTimeout(() => {
          timers.delete(timer);
          void forward(ex);
        }, action.ms);
        timers.add(timer);
        return rule.settle(n, record);
      }
      case "drop-answer":
        await forward(ex, true);
        return rule.settle(n, record);
      case "hang":
        rule.held.push(ex);
        return rule.settle(n, record);
    }
  }

  const server = createServer((incoming, outgoing) => {
    // A client that resets mid-request must not take the proxy down.
    incoming.on("error", () => {});
    outgoing.on("error", () => {});
    handle(incoming, outgoing).catch(() => cut(incoming.socket));
  });
  // Longer than any test idles: a server closing a kept-alive socket just as the SDK reuses it
  // would look like an injected reset.
  server.keepAliveTimeout = 120_000;
  const port = await listen(server);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    add(spec) {
      const rule = new RuleState(spec, mulberry32((seed ^ Math.imul(++ruleCount, 0x9e3779b9)) >>> 0));
      rules.push(rule);
      return {
        get hits() {
          return rule.hits;
        },
        waitForHit: (n = 1) => rule.deferred(n).promise,
        release() {
          rule.done = true;
          for (const ex of rule.held.splice(0)) void forward(ex);
        },
        remove() {
          rule.done = true;
          const at = rules.indexOf(rule);
          if (at >= 0) rules.splice(at, 1);
        },
      };
    },
    clear() {
      for (const rule of rules.splice(0)) rule.done = true;
    },
    count: (match) => seen.filter((s) => matches(match, s)).length,
    clients(region = "ap-south-1", clientOptions = {}) {
      const clients = createAwsClients({
        region,
        endpoint: `http://127.0.0.1:${port}`,
        ...(clientOptions.maxAttempts !== undefined ? { maxAttempts: clientOptions.maxAttempts } : {}),
      });
      made.push(clients);
      return clients;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      for (const clients of made.splice(0)) clients.destroy();
      // Also ends the held (hang) requests: their sockets close without an answer.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

/** Per test file, like useMoto(): starts in beforeAll in front of moto.current, stops in afterAll. */
export function useFaultProxy(moto: { readonly current: Moto }): { readonly current: FaultProxy } {
  const holder: { current: FaultProxy } = { current: undefined as unknown as FaultProxy };
  beforeAll(async () => {
    holder.current = await startFaultProxy(moto.current.endpoint);
  });
  afterAll(async () => {
    await holder.current?.stop();
  });
  return holder;
}

class RuleState {
  hits = 0;
  skipped = 0;
  firstHitAt: number | undefined;
  /** Released or removed: takes no more requests. */
  done = false;
  readonly held: Exchange[] = [];
  private readonly waiters = new Map<
    number,
    { promise: Promise<RequestRecord>; resolve(r: RequestRecord): void }
  >();

  constructor(
    readonly spec: FaultRule,
    readonly random: () => number,
  ) {}

  deferred(n: number) {
    let waiter = this.waiters.get(n);
    if (!waiter) {
      let resolve!: (r: RequestRecord) => void;
      const promise = new Promise<RequestRecord>((r) => {
        resolve = r;
      });
      waiter = { promise, resolve };
      this.waiters.set(n, waiter);
    }
    return waiter;
  }

  settle(n: number, record: RequestRecord): void {
    this.deferred(n).resolve(record);
  }
}

async function listen(server: ReturnType<typeof createServer>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await freeLoopbackPort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", reject);
          resolve();
        });
      });
      return port;
    } catch (error) {
      // Another process may have taken the port between the probe and the bind.
      if (attempt >= 2) throw error;
    }
  }
}

async function readBody(incoming: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A TCP reset: the SDK sees ECONNRESET on this socket only; its other and later sockets are unaffected. */
function cut(socket: Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}

function withoutHopByHop(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function describe(incoming: IncomingMessage, body: Buffer): Omit<RequestRecord, "seq" | "at"> {
  const method = incoming.method ?? "GET";
  const url = new URL(incoming.url ?? "/", "http://proxy");
  const params = url.searchParams;
  const scope =
    header(incoming.headers, "authorization")?.match(/Credential=([^,\s]+)/)?.[1] ??
    params.get("X-Amz-Credential") ??
    "";
  const service = scope.split("/")[3] ?? "";
  const path = safeDecode(url.pathname);
  const record: Omit<RequestRecord, "seq" | "at"> = {
    method,
    path,
    query: url.search.slice(1),
    service,
    operation: "",
    status: null,
    fault: null,
  };
  const target = header(incoming.headers, "x-amz-target");
  if (target) {
    record.operation = target.slice(target.lastIndexOf(".") + 1);
  } else if (service === "s3") {
    // Split before decoding: an encoded "/" inside a key must not move the bucket boundary.
    const [, bucket = "", ...rest] = url.pathname.split("/");
    if (bucket) record.bucket = safeDecode(bucket);
    if (rest.length > 0 && rest.join("/") !== "") record.key = safeDecode(rest.join("/"));
    record.operation = s3Operation(method, record, params, incoming.headers) ?? "";
  } else {
    const form = header(incoming.headers, "content-type")?.startsWith("application/x-www-form-urlencoded");
    record.operation =
      params.get("Action") ??
      (form ? new URLSearchParams(body.toString("utf8")).get("Action") : null) ??
      REST_OPERATIONS.find(([m, pattern]) => m === method && pattern.test(path))?.[2] ??
      "";
  }
  // The SDK names S3 operations in x-id; the last resort is the request line.
  record.operation ||= params.get("x-id") ?? `${method} ${path}`;
  return record;
}

function s3Operation(
  method: string,
  { bucket, key }: { bucket?: string; key?: string },
  params: URLSearchParams,
  headers: IncomingHttpHeaders,
): string | undefined {
  if (!bucket) return method === "GET" ? "ListBuckets" : undefined;
  if (key === undefined) {
    const bare = [...params.keys()].every((name) => name === "x-id");
    if (method === "HEAD") return "HeadBucket";
    if (method === "GET" && params.get("list-type") === "2") return "ListObjectsV2";
    if (method === "GET" && params.has("tagging")) return "GetBucketTagging";
    if (method === "PUT" && bare) return "CreateBucket";
    if (method === "POST" && params.has("delete")) return "DeleteObjects";
    return undefined;
  }
  switch (method) {
    case "HEAD":
      return "HeadObject";
    case "GET":
      return "GetObject";
    case "PUT":
      if (params.has("partNumber") && params.has("uploadId"))
        return headers["x-amz-copy-source"] ? "UploadPartCopy" : "UploadPart";
      return headers["x-amz-copy-source"] ? "CopyObject" : "PutObject";
    case "DELETE":
      return params.has("uploadId") ? "AbortMultipartUpload" : "DeleteObject";
    case "POST":
      if (params.has("uploads")) return "CreateMultipartUpload";
      if (params.has("uploadId")) return "CompleteMultipartUpload";
      return undefined;
    default:
      return undefined;
  }
}

/** The REST-JSON (Lambda) and REST-XML (CloudFront) operations tests act on; tried in order. */
const REST_OPERATIONS: ReadonlyArray<readonly [string, RegExp, string]> = [
  ["PUT", /^\/2015-03-31\/functions\/[^/]+\/code$/, "UpdateFunctionCode"],
  ["POST", /^\/2015-03-31\/functions\/[^/]+\/versions$/, "PublishVersion"],
  ["PUT", /^\/2015-03-31\/functions\/[^/]+\/aliases\/[^/]+$/, "UpdateAlias"],
  ["GET", /^\/2015-03-31\/functions\/[^/]+\/aliases\/[^/]+$/, "GetAlias"],
  ["POST", /^\/2015-03-31\/functions\/[^/]+\/aliases$/, "CreateAlias"],
  ["GET", /^\/2015-03-31\/functions\/[^/]+\/configuration$/, "GetFunctionConfiguration"],
  ["GET", /^\/2015-03-31\/functions\/[^/]+$/, "GetFunction"],
  ["POST", /^\/2015-03-31\/functions\/?$/, "CreateFunction"],
  ["POST", /^\/2020-05-31\/distribution\/[^/]+\/invalidation$/, "CreateInvalidation"],
  ["GET", /^\/2020-05-31\/distribution\/[^/]+\/invalidation\/[^/]+$/, "GetInvalidation"],
  ["GET", /^\/2020-05-31\/distribution\/[^/]+$/, "GetDistribution"],
  ["POST", /^\/2020-05-31\/distribution\/?$/, "CreateDistribution"],
];

function fits(expected: string | RegExp, actual: string | undefined): boolean {
  if (actual === undefined) return false;
  if (typeof expected === "string") return expected === actual;
  expected.lastIndex = 0; // a /g pattern keeps state between test() calls
  return expected.test(actual);
}

/** The body as the object will hold it: a gzip body (Content-Encoding gzip) decompressed. */
function bodyText(body: Buffer, headers: Seen["headers"]): string {
  if (/\bgzip\b/i.test(header(headers, "content-encoding") ?? "")) {
    try {
      return gunzipSync(body, { maxOutputLength: MAX_BODY }).toString("utf8");
    } catch {
      // Cut short by count()'s bound, or not gzip after all: match the bytes as sent.
    }
  }
  return body.toString("utf8");
}

function matches(match: RequestMatch, { record, headers, body }: Seen): boolean {
  if (match.service !== undefined && match.service !== record.service) return false;
  if (match.operation !== undefined && !fits(match.operation, record.operation)) return false;
  if (match.method !== undefined && match.method.toUpperCase() !== record.method) return false;
  if (match.path !== undefined && !fits(match.path, record.path)) return false;
  if (match.bucket !== undefined && match.bucket !== record.bucket) return false;
  if (match.key !== undefined && !fits(match.key, record.key)) return false;
  if (match.bodyIncludes !== undefined && !bodyText(body, headers).includes(match.bodyIncludes)) return false;
  for (const [name, expected] of Object.entries(match.header ?? {}))
    if (!fits(expected, header(headers, name.toLowerCase()))) return false;
  return true;
}

const xml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The error body each protocol's SDK deserializer reads the code from. */
function errorAnswer(
  { record, headers }: Seen,
  { status, code, message = `Injected fault ${code}` }: { status: number; code: string; message?: string },
): { headers: Record<string, string>; body: string } {
  const requestId = `fault-proxy-${record.seq}`;
  const xmlAnswer = (body: string) => ({
    headers: { "content-type": "application/xml", "x-amzn-requestid": requestId },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}`,
  });
  const wrapped = () =>
    xmlAnswer(
      `<ErrorResponse><Error><Type>${status < 500 ? "Sender" : "Receiver"}</Type><Code>${xml(code)}</Code>` +
        `<Message>${xml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    );
  // JSON 1.0/1.1 (Logs, DynamoDB): the code in __type.
  if (headers["x-amz-target"])
    return {
      headers: { "content-type": header(headers, "content-type") ?? "application/x-amz-json-1.1" },
      body: JSON.stringify({ __type: code, message }),
    };
  // S3 (REST-XML without the wrapper). A HEAD answer carries no body: the SDK names it by status.
  if (record.service === "s3")
    return xmlAnswer(
      `<Error><Code>${xml(code)}</Code><Message>${xml(message)}</Message><RequestId>${requestId}</RequestId></Error>`,
    );
  // CloudFront (REST-XML) and the query protocol (STS, IAM) wrap the error.
  if (record.service === "cloudfront" || /(^|&)Action=/.test(record.query) || isQueryBody(headers))
    return wrapped();
  // REST-JSON (Lambda): the code in a header.
  return {
    headers: { "content-type": "application/json", "x-amzn-errortype": code, "x-amzn-requestid": requestId },
    body: JSON.stringify({ message }),
  };
}

function isQueryBody(headers: IncomingHttpHeaders): boolean {
  return header(headers, "content-type")?.startsWith("application/x-www-form-urlencoded") ?? false;
}

/** A small seeded PRNG, so a probability rule fails the same requests on every run. */
function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
