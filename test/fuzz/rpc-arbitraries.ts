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
  | { kind: "answer"; id: RequestId }
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
  { usable: true, make: (n) => ({ sent: `${"i".repeat(1000)}${n}`.slice(-1024), id: `${"i".repeat(1000)}${n}`.slice(-1024) }) },
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

const idShape: fc.Arbitrary<IdShape> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...usableIds) },
  { weight: 1, arbitrary: fc.constantFrom(...unusableIds).map((sent): IdShape => ({ usable: false, sent })) },
);

const METHODS = [
  "ping",
  "tools/list",
  "tools/call",
  "initialize",
  "logging/setLevel",
  "resources/list",
  "prompts/list",
  "completion/complete",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/initialized",
  "",
  "tools/call ",
  "TOOLS/LIST",
  "rpc.discover",
  "__proto__",
  "constructor",
];

const methodArb: fc.Arbitrary<Sent> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...METHODS) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom<Sent>(12, null, true, [], new SentObject([])) },
);

const progressTokenArb: fc.Arbitrary<Sent> = fc.constantFrom<Sent>(
  "t",
  7,
  new SentObject([["a", 1]]),
  [],
  null,
  1.5,
  true,
);

/** A tool name: a real one whose valid call is instant, unknown ones, and huge or odd ones. */
const toolNameArb: fc.Arbitrary<Sent> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<Sent>("health_check", "no_such_tool", "list_tables ", "HEALTH_CHECK") },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom<Sent>(7, null, [], new SentObject([])) },
  { weight: 1, arbitrary: fc.constantFrom(2_000, 100_000).map((n) => "n".repeat(n)) },
);

const toolArgumentsArb: fc.Arbitrary<Sent | undefined> = fc.oneof(
  fc.constantFrom<Sent | undefined>(
    undefined,
    new SentObject([]),
    new SentObject([["env", "prod"]]),
    new SentObject([["attempts", new RawJson("1e400")]]),
    [1, 2],
    "env=dev",
    null,
  ),
  fc.jsonValue({ maxDepth: 2 }).map(fromJson),
);

function objectOf(fields: Record<string, Sent | undefined>): SentObject {
  return new SentObject(
    Object.entries(fields).filter((entry): entry is [string, Sent] => entry[1] !== undefined),
  );
}

const paramsArb: fc.Arbitrary<Sent | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom<Sent | undefined>(undefined, null, "str", 42, [1, 2], true, new SentObject([])) },
  {
    weight: 4,
    arbitrary: fc
      .record({
        name: fc.option(toolNameArb, { nil: undefined }),
        arguments: toolArgumentsArb,
        _meta: fc.option(
          fc.oneof(
            progressTokenArb.map((token) => objectOf({ progressToken: token })),
            fc.constantFrom<Sent>("x", [], null),
          ),
          { nil: undefined },
        ),
      })
      .map(objectOf),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<Sent>("debug", "loud", 5, null, "__proto__")
      .map((level) => objectOf({ level })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        protocolVersion: fc.constantFrom<Sent>("2025-06-18", 1, "9999-01-01"),
        capabilities: fc.constantFrom<Sent>(new SentObject([]), "x"),
        clientInfo: fc.constantFrom<Sent>(objectOf({ name: "c", version: "0" }), null),
      })
      .map(objectOf),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ requestId: fc.constantFrom<Sent>(1, "x", new SentObject([])), progress: fc.constantFrom<Sent>(1, "a") })
      .map(objectOf),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(fromJson) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(1_000, 50_000)
      .map((depth) => new RawJson(`${"[".repeat(depth)}${"]".repeat(depth)}`, `[ nested ${depth} deep`)),
  },
);

const jsonrpcArb: fc.Arbitrary<Sent | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.constant("2.0") },
  { weight: 1, arbitrary: fc.constantFrom<Sent | undefined>(undefined, "1.0", 2, null, "2.0 ") },
);

const extraKeysArb: fc.Arbitrary<Array<[string, Sent]>> = fc.oneof(
  { weight: 6, arbitrary: fc.constant([]) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<Array<[string, Sent]>>(
      [["extra", true]],
      [["__proto__", new SentObject([["method", "ping"]])]],
      [["result", new SentObject([])]],
      [["error", new SentObject([["code", 1]])]],
    ),
  },
);

/** How the line reaches the server: whole, in pieces (splitting UTF-8 characters), or spoilt. */
type Framing = "line" | "crlf" | "chunked" | "truncated" | "garbageSuffix" | "bom" | "huge";

const framingArb: fc.Arbitrary<Framing> = fc.oneof(
  { weight: 10, arbitrary: fc.constant<Framing>("line") },
  { weight: 1, arbitrary: fc.constant<Framing>("crlf") },
  { weight: 2, arbitrary: fc.constant<Framing>("chunked") },
  { weight: 3, arbitrary: fc.constant<Framing>("truncated") },
  { weight: 1, arbitrary: fc.constant<Framing>("garbageSuffix") },
  { weight: 1, arbitrary: fc.constant<Framing>("bom") },
  // Over the 10 MB line limit: rare, each costs ~11 MB through the pipe.
  { weight: 0.1 as unknown as number, arbitrary: fc.constant<Framing>("huge") },
);

interface Draft {
  id: IdShape | undefined;
  jsonrpc: Sent | undefined;
  method: Sent | undefined;
  params: Sent | undefined;
  extra: Array<[string, Sent]>;
  /** Keep "result" or "error" keys from `extra` (a response-like message). */
}

const messageArb: fc.Arbitrary<Draft> = fc.record({
  id: fc.option(idShape, { nil: undefined, freq: 6 }),
  jsonrpc: jsonrpcArb,
  method: fc.option(methodArb, { nil: undefined, freq: 8 }),
  params: paramsArb,
  extra: extraKeysArb,
});

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
function expectationOf(object: SentObject, id: RequestId | null, hasId: boolean): Expectation {
  const keys = new Set(object.entries.map(([key]) => key));
  const hasMethod = keys.has("method");
  if (hasMethod && hasId) return id === null ? { kind: "oneError", ids: [null] } : { kind: "answer", id };
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
  const expected = expectationOf(object, id, hasId);
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
      return { ...line(body, spoilt), describe: () => `huge (${body.length} bytes) ${describeSent(object, 300)}` };
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
  const expect: Expectation = insideString ? { kind: "answer", id } : { kind: "oneError", ids: [null] };
  return { chunks: [bytes], expect, label: "badBytes", describe: () => `invalid UTF-8 ${insideString ? "in a string" : "line"}` };
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
