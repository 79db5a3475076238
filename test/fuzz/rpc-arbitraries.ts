import fc from "fast-check";
import { describeSent, fromJson, RawJson, type Sent, SentObject, toJsonText } from "./json-text.js";
import type { RequestId } from "./raw-channel.js";

/**
 * Malformed JSON-RPC for the raw channel. Each case says what the server owes it:
 *   - a request (method + id) whose id is usable (a string of at most 1,024 characters or a
 *     safe integer) gets exactly one answer carrying that id;
 *   - a message that is not a JSON object, a request with an unusable id, an object that is
 *     neither request, notification nor response, and a line that does not parse get exactly
 *     one error, with id null (or, for a line that does not parse, the id it certainly had);
 *   - notifications, responses and blank lines get nothing.
 * Ids are unique per case (a counter is folded into each generated id) so answers are attributable.
 */

export type Expectation =
  | { kind: "answer"; id: RequestId; refused: boolean }
  | { kind: "oneError"; ids: Array<RequestId | null> }
  | { kind: "nothing"; id?: RequestId };

export interface RpcCase {
  /** Bytes written to stdin, in these chunks, the last ending the line. */
  chunks: Buffer[];
  expect: Expectation;
  label: string;
  describe(): string;
}

/** Which generated id this is (folded into the id, so every case's id is new). */
let counter = 0;

type IdShape =
  | { usable: true; make: (n: number) => { sent: Sent; id: RequestId } }
  | { usable: false; sent: Sent };

const usableIds: IdShape[] = [
  { usable: true, make: (n) => ({ sent: 1_000_000 + n, id: 1_000_000 + n }) },
  { usable: true, make: (n) => ({ sent: -(1_000_000 + n), id: -(1_000_000 + n) }) },
  { usable: true, make: (n) => ({ sent: Number.MAX_SAFE_INTEGER - n, id: Number.MAX_SAFE_INTEGER - n }) },
  // Number texts that parse to safe integers: 7.0 and 7e0 are the id 7.
  { usable: true, make: (n) => ({ sent: new RawJson(`${2_000_000 + n}.0`), id: 2_000_000 + n }) },
  { usable: true, make: (n) => ({ sent: new RawJson(`${3_000_000 + n}e0`), id: 3_000_000 + n }) },
  { usable: true, make: (n) => ({ sent: `id-${n}`, id: `id-${n}` }) },
  { usable: true, make: (n) => ({ sent: `😀\u05d0\u0000\ud800-${n}`, id: `😀\u05d0\u0000\ud800-${n}` }) },
  {
    usable: true,
    make: (n) => ({
      sent: `${"i".repeat(1000)}${n}`.slice(-1024),
      id: `${"i".repeat(1000)}${n}`.slice(-1024),
    }),
  },
];

const unusableIds: Sent[] = [
  new SentObject([["nested", 1]]),
  true,
  false,
  null,
  1.5,
  [1],
  "x".repeat(1025),
  2 ** 53 + 2,
  new RawJson("1e400"),
  new RawJson("-1.5e-300"),
];

function objectOf(fields: Record<string, Sent | undefined>): SentObject {
  return new SentObject(
    Object.entries(fields).filter((entry): entry is [string, Sent] => entry[1] !== undefined),
  );
}

/** `object` with `key` set to `value` (removed when undefined), keeping its other entries. */
function withEntry(object: Sent | undefined, key: string, value: Sent | undefined): SentObject {
  const entries = object instanceof SentObject ? object.entries.filter(([k]) => k !== key) : [];
  return new SentObject(value === undefined ? entries : [...entries, [key, value] as const]);
}

interface Draft {
  id: IdShape | undefined;
  jsonrpc: Sent | undefined;
  method: Sent | undefined;
  params: Sent | undefined;
  /** Stray top-level keys; "result" or "error" make a response-like message. */
  extra: Array<[string, Sent]>;
}

/**
 * Well-formed messages a client really sends. The only tool called is health_check (instant
 * with the fuzz config) or list_tables (one refused connection): a valid call costs little.
 */
const wellFormedArb: fc.Arbitrary<Draft> = fc
  .oneof(
    fc.constantFrom<Pick<Draft, "method" | "params">>(
      { method: "ping", params: undefined },
      { method: "ping", params: new SentObject([]) },
      { method: "tools/list", params: undefined },
      { method: "tools/list", params: objectOf({ cursor: "x" }) },
      { method: "logging/setLevel", params: objectOf({ level: "debug" }) },
      {
        method: "initialize",
        params: objectOf({
          protocolVersion: "2025-06-18",
          capabilities: new SentObject([]),
          clientInfo: objectOf({ name: "again", version: "1" }),
        }),
      },
    ),
    fc
      .record({
        name: fc.constantFrom("health_check", "health_check", "list_tables"),
        arguments: fc.constantFrom<Sent | undefined>(
          undefined,
          new SentObject([]),
          objectOf({ env: "prod" }),
        ),
        _meta: fc.option(
          fc.constantFrom<Sent>("t", 7).map((token) => objectOf({ progressToken: token })),
          { nil: undefined },
        ),
      })
      .map((params) => ({ method: "tools/call", params: objectOf(params) })),
  )
  .chain((call) =>
    fc
      .option(fc.constantFrom(...usableIds), { nil: undefined, freq: 8 })
      .map((id): Draft => ({ id, jsonrpc: "2.0", ...call, extra: [] })),
  );

const notificationArb: fc.Arbitrary<Draft> = fc.constantFrom<Draft>(
  {
    id: undefined,
    jsonrpc: "2.0",
    method: "notifications/initialized",
    params: undefined,
    extra: [],
  },
  {
    id: undefined,
    jsonrpc: "2.0",
    method: "notifications/cancelled",
    params: objectOf({ requestId: 424242, reason: "fuzz" }),
    extra: [],
  },
  {
    id: undefined,
    jsonrpc: "2.0",
    method: "notifications/progress",
    params: objectOf({ progressToken: "t", progress: 1 }),
    extra: [],
  },
  {
    id: undefined,
    jsonrpc: "2.0",
    method: "notifications/roots/list_changed",
    params: undefined,
    extra: [],
  },
);

const STRAY_METHODS = [
  "",
  "tools/call ",
  "TOOLS/LIST",
  "rpc.discover",
  "resources/list",
  "prompts/list",
  "completion/complete",
  "notifications/cancelled",
  "__proto__",
  "constructor",
];

const strayParams: fc.Arbitrary<Sent> = fc.oneof(
  fc.constantFrom<Sent>(null, "str", 42, [1, 2], true, new RawJson("1e400")),
  fc.jsonValue({ maxDepth: 3 }).map(fromJson),
  fc
    .constantFrom(1_000, 50_000)
    .map((depth) => new RawJson(`${"[".repeat(depth)}${"]".repeat(depth)}`, `[ nested ${depth} deep`)),
);

const progressTokenArb: fc.Arbitrary<Sent> = fc.constantFrom<Sent>(
  new SentObject([["a", 1]]),
  [],
  null,
  1.5,
  true,
);

/** One thing wrong with a message. */
type MessageDefect = (draft: Draft) => Draft;

const defectArb: fc.Arbitrary<MessageDefect> = fc.oneof(
  fc.constantFrom(...unusableIds).map(
    (sent): MessageDefect =>
      (d) => ({ ...d, id: { usable: false, sent } }),
  ),
  fc.constant<MessageDefect>((d) => ({ ...d, id: undefined })),
  fc.constantFrom<Sent | undefined>(undefined, "1.0", 2, null, "2.0 ").map(
    (jsonrpc): MessageDefect =>
      (d) => ({ ...d, jsonrpc }),
  ),
  fc
    .oneof(
      fc.constantFrom<Sent | undefined>(...STRAY_METHODS, undefined, 12, null, true, [], new SentObject([])),
      fc.string({ unit: "binary", maxLength: 30 }),
    )
    .map(
      (method): MessageDefect =>
        (d) => ({ ...d, method }),
    ),
  strayParams.map(
    (params): MessageDefect =>
      (d) => ({ ...d, params }),
  ),
  // tools/call params: the tool name, the arguments, the progress token.
  fc
    .oneof(
      fc.constantFrom<Sent | undefined>(
        undefined,
        7,
        null,
        [],
        "no_such_tool",
        "HEALTH_CHECK",
        "health_check ",
      ),
      fc.string({ unit: "binary", maxLength: 20 }),
      // A huge unknown name: an answer must not echo it whole.
      fc.constantFrom(2_000, 100_000).map((n) => `n${"n".repeat(n - 1)}`),
    )
    .map(
      (name): MessageDefect =>
        (d) => ({ ...d, method: "tools/call", params: withEntry(d.params, "name", name) }),
    ),
  fc
    .oneof(
      fc.constantFrom<Sent>([1, 2], "env=dev", null, 42, objectOf({ attempts: new RawJson("1e400") })),
      fc.jsonValue({ maxDepth: 2 }).map(fromJson),
    )
    .map(
      (args): MessageDefect =>
        (d) => ({ ...d, params: withEntry(d.params, "arguments", args) }),
    ),
  fc
    .oneof(
      progressTokenArb.map((token) => objectOf({ progressToken: token })),
      fc.constantFrom<Sent>("x", [], null),
    )
    .map(
      (meta): MessageDefect =>
        (d) => ({ ...d, params: withEntry(d.params, "_meta", meta) }),
    ),
  fc
    .constantFrom<Array<[string, Sent]>>(
      [["extra", true]],
      [["__proto__", new SentObject([["method", "ping"]])]],
      [["result", new SentObject([])]],
      [["error", new SentObject([["code", 1]])]],
    )
    .map(
      (extra): MessageDefect =>
        (d) => ({ ...d, extra: [...d.extra, ...extra] }),
    ),
);

/** The request methods this server answers; any other method is "Method not found". */
const SERVED_METHODS = new Set([
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "logging/setLevel",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/templates/list",
  "resources/read",
]);
/** Tools whose call with valid arguments can succeed here (--read-only, fuzz config). */
const CALLABLE_TOOLS = new Set(["health_check", "list_tables"]);

function entryOf(object: Sent | undefined, key: string): Sent | undefined {
  return object instanceof SentObject ? object.entries.filter(([k]) => k === key).at(-1)?.[1] : undefined;
}

/**
 * Whether a request must come back as an error (a JSON-RPC error, or a tool result with
 * isError), by the JSON-RPC and MCP schemas: a wrong "jsonrpc", a stray top-level key, a method
 * not served, params that are not an object, a malformed _meta, or a tools/call without a
 * callable tool name or with arguments that are not an object. Anything else may succeed
 * (MCP params are open objects: an extra key is allowed there).
 */
function certainlyRefused(draft: Draft): boolean {
  const { jsonrpc, method, params, extra } = draft;
  if (jsonrpc !== "2.0" || extra.length > 0) return true;
  if (typeof method !== "string" || !SERVED_METHODS.has(method)) return true;
  if (params !== undefined && !(params instanceof SentObject)) return true;
  const meta = entryOf(params, "_meta");
  if (meta !== undefined) {
    const token = entryOf(meta, "progressToken");
    const tokenOk =
      token === undefined ||
      typeof token === "string" ||
      (typeof token === "number" && Number.isInteger(token));
    if (!(meta instanceof SentObject) || !tokenOk) return true;
  }
  if (method === "tools/call") {
    const name = entryOf(params, "name");
    const args = entryOf(params, "arguments");
    if (typeof name !== "string" || !CALLABLE_TOOLS.has(name)) return true;
    if (args !== undefined && !(args instanceof SentObject)) return true;
  }
  return false;
}

/** A well-formed request or notification with up to three things wrong with it. */
const messageArb: fc.Arbitrary<Draft> = fc
  .tuple(
    fc.oneof({ weight: 5, arbitrary: wellFormedArb }, { weight: 1, arbitrary: notificationArb }),
    fc.array(defectArb, { maxLength: 3 }),
  )
  .map(([base, defects]) => defects.reduce((draft, apply) => apply(draft), base));

/** How the line reaches the server: whole, in pieces (splitting UTF-8 characters), or spoilt. */
type Framing = "line" | "crlf" | "chunked" | "truncated" | "garbageSuffix" | "bom" | "huge";

const framingArb: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 100, arbitrary: fc.constant<Framing>("line") },
  { weight: 10, arbitrary: fc.constant<Framing>("crlf") },
  { weight: 20, arbitrary: fc.constant<Framing>("chunked") },
  { weight: 30, arbitrary: fc.constant<Framing>("truncated") },
  { weight: 10, arbitrary: fc.constant<Framing>("garbageSuffix") },
  { weight: 10, arbitrary: fc.constant<Framing>("bom") },
  // Over the 10 MB line limit: rare, each costs ~11 MB through the pipe.
  { weight: 1, arbitrary: fc.constant<Framing>("huge") },
);

/** The JSON text of a draft, the id it carries, and whether that id is usable. */
function render(draft: Draft): { text: string; id: RequestId | null; hasId: boolean; object: SentObject } {
  counter++;
  let id: RequestId | null = null;
  let idSent: Sent | undefined;
  if (draft.id?.usable) {
    const made = draft.id.make(counter);
    id = made.id;
    idSent = made.sent;
  } else if (draft.id) idSent = draft.id.sent;
  // The id first (as most clients write it), so a line that does not parse can be answered by id.
  const object = objectOf({
    ...(idSent !== undefined ? { id: idSent } : {}),
    jsonrpc: draft.jsonrpc,
    method: draft.method,
    params: draft.params,
  });
  const full = new SentObject([...object.entries, ...draft.extra]);
  return { text: toJsonText(full), id, hasId: idSent !== undefined, object: full };
}

/** What the server owes a message that parses as JSON (see the module comment). */
function expectationOf(
  object: SentObject,
  id: RequestId | null,
  hasId: boolean,
  refused: boolean,
): Expectation {
  const keys = new Set(object.entries.map(([key]) => key));
  const hasMethod = keys.has("method");
  if (hasMethod && hasId)
    return id === null ? { kind: "oneError", ids: [null] } : { kind: "answer", id, refused };
  if (hasMethod) return { kind: "nothing" };
  if (hasId && (keys.has("result") || keys.has("error"))) {
    return id === null ? { kind: "nothing" } : { kind: "nothing", id };
  }
  return { kind: "oneError", ids: [id] };
}

function chunksOf(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % bytes.length).filter((c) => c > 0))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function build(draft: Draft, framing: Framing, cut: number, cuts: number[]): RpcCase {
  const { text, id, hasId, object } = render(draft);
  const expected = expectationOf(object, id, hasId, certainlyRefused(draft));
  const describe = () => `${framing} ${describeSent(object, 500)}`;
  const line = (body: string, expect: Expectation, ending = "\n"): RpcCase => ({
    chunks: [Buffer.from(`${body}${ending}`, "utf8")],
    expect,
    label: framing,
    describe,
  });
  // A line that no longer parses: one parse error, with the id when it is certain, else null.
  const spoilt: Expectation = { kind: "oneError", ids: id === null ? [null] : [null, id] };
  switch (framing) {
    case "line":
      return line(text, expected);
    case "crlf":
      return line(text, expected, "\r\n");
    case "chunked": {
      const bytes = Buffer.from(`${text}\n`, "utf8");
      return { chunks: chunksOf(bytes, cuts), expect: expected, label: framing, describe };
    }
    case "truncated":
      // A strict prefix of an object's text is never JSON (its closing brace is the last byte).
      return line(text.slice(0, Math.max(1, cut % text.length)), spoilt);
    case "garbageSuffix":
      return line(`${text}}x`, spoilt);
    case "bom":
      return line(`\ufeff${text}`, spoilt);
    case "huge": {
      // Over 10 MB: the id is first, so the server can still answer it.
      const filler = "a".repeat(10 * 1024 * 1024 + 16);
      const head = text.slice(0, -1);
      const body = `${head}${head.endsWith("{") ? "" : ","}"pad":"${filler}"}`;
      return {
        ...line(body, spoilt),
        describe: () => `huge (${body.length} bytes) ${describeSent(object, 300)}`,
      };
    }
  }
}

/** Lines that are not JSON-RPC objects at all. */
const oddLineArb: fc.Arbitrary<RpcCase> = fc
  .constantFrom<[string, Expectation]>(
    ["not json at all", { kind: "oneError", ids: [null] }],
    ["NaN", { kind: "oneError", ids: [null] }],
    ['{"method":"ping","params":{,},"jsonrpc":"2.0"}', { kind: "oneError", ids: [null] }],
    ['"just a string"', { kind: "oneError", ids: [null] }],
    ["42", { kind: "oneError", ids: [null] }],
    ["null", { kind: "oneError", ids: [null] }],
    ["[]", { kind: "oneError", ids: [null] }],
    ['[{"jsonrpc":"2.0","id":1,"method":"ping"}]', { kind: "oneError", ids: [null] }],
    ["{}", { kind: "oneError", ids: [null] }],
    ["\u0000", { kind: "oneError", ids: [null] }],
    ["", { kind: "nothing" }],
    ["   \t ", { kind: "nothing" }],
    ["\r", { kind: "nothing" }],
  )
  .map(([body, expect]) => ({
    chunks: [Buffer.from(`${body}\n`, "utf8")],
    expect,
    label: "odd",
    describe: () => `odd ${JSON.stringify(body)}`,
  }));

/** Invalid UTF-8: inside a JSON string it decodes to U+FFFD (valid); as the line, it is not JSON. */
const badBytesArb: fc.Arbitrary<RpcCase> = fc.boolean().map((insideString) => {
  counter++;
  const id = 4_000_000 + counter;
  const bytes = insideString
    ? Buffer.concat([
        Buffer.from(`{"jsonrpc":"2.0","id":${id},"method":"ping","params":{"x":"`),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('"}}\n'),
      ])
    : Buffer.from([0xff, 0xfe, 0x7b, 0x0a]);
  const expect: Expectation = insideString
    ? { kind: "answer", id, refused: false }
    : { kind: "oneError", ids: [null] };
  return {
    chunks: [bytes],
    expect,
    label: "badBytes",
    describe: () => `invalid UTF-8 ${insideString ? "in a string" : "line"}`,
  };
});

export const rpcCaseArb: fc.Arbitrary<RpcCase> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(messageArb, framingArb, fc.nat(), fc.array(fc.nat(), { maxLength: 3 }))
      .map(([draft, framing, cut, cuts]) => build(draft, framing, cut, cuts)),
  },
  { weight: 1, arbitrary: oddLineArb },
  { weight: 1, arbitrary: badBytesArb },
);
