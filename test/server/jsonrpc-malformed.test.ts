import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkMessage, guessId } from "../../src/server/stdio.js";
import { BUILT_SERVER } from "../support/stdio.js";

/**
 * Every JSON-RPC request with an id gets exactly one answer. The SDK's stdio transport used to
 * drop a line that failed its message schema ("params": "str", an object progressToken) and
 * answer a request whose params failed the method's schema with an internal error holding a
 * zod dump. Raw lines go to the built server's stdin here, as a clumsy client would write them.
 */
interface Answer {
  id?: string | number | null;
  result?: Record<string, unknown> & { isError?: boolean; content?: Array<{ text: string }> };
  error?: { code: number; message: string };
}

let child: ChildProcessWithoutNullStreams;
const answers: Answer[] = [];
const rawLines: string[] = [];
let stderr = "";

function write(line: string): void {
  child.stdin.write(`${line}\n`);
}

function send(message: unknown): void {
  write(JSON.stringify(message));
}

async function until<T>(what: string, read: () => T | undefined, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms; stderr: ${stderr.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function answersFor(id: string | number | null): Answer[] {
  return answers.filter((a) => a.id === id);
}

/** Waits for the answer to `id`, then a little longer to see that no second one follows. */
async function onlyAnswer(id: string | number, ms = 3000): Promise<Answer> {
  const answer = await until(`answer to ${JSON.stringify(id)}`, () => answersFor(id)[0], ms);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(answersFor(id), `answers to ${JSON.stringify(id)}`).toHaveLength(1);
  return answer;
}

function toolText(answer: Answer): string {
  return answer.result?.content?.[0]?.text ?? "";
}

beforeAll(async () => {
  if (!existsSync(BUILT_SERVER)) throw new Error(`${BUILT_SERVER} is missing: run npm run build first.`);
  const cwd = mkdtempSync(join(tmpdir(), "vyaparai-jsonrpc-"));
  child = spawn(process.execPath, [BUILT_SERVER], {
    cwd,
    // No AWS is reached: every call here fails before one; a closed endpoint makes sure.
    env: { ...process.env, AWS_ENDPOINT_URL: "http://127.0.0.1:9" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let pending = "";
  child.stdout.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    let end = pending.indexOf("\n");
    while (end !== -1) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      rawLines.push(line);
      answers.push(JSON.parse(line) as Answer);
      end = pending.indexOf("\n");
    }
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  send({
    jsonrpc: "2.0",
    id: "init",
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
  });
  await onlyAnswer("init", 10_000);
  send({ jsonrpc: "2.0", method: "notifications/initialized" });
});

afterAll(() => {
  child?.kill();
});

describe("malformed JSON-RPC over the built stdio server", () => {
  it("answers malformed tools/call params with -32602 naming the problem", async () => {
    const cases: Array<[string | number, unknown, RegExp]> = [
      [1, "str", /^Invalid params: params: .*expected object/],
      ["s-2", 42, /^Invalid params: params: .*expected object/],
      [
        3,
        { name: "list_tables", arguments: {}, _meta: { progressToken: { a: 1 } } },
        /params\._meta\.progressToken: expected string or number/,
      ],
      [
        4,
        { name: "list_tables", arguments: [1, 2] },
        /^Invalid params for tools\/call: params\.arguments: .*expected record, received array/,
      ],
      [5, { name: 7 }, /^Invalid params for tools\/call: params\.name: .*expected string/],
      [6, { arguments: {} }, /^Invalid params for tools\/call: params\.name/],
      [7, { name: "list_tables", arguments: "env=dev" }, /params\.arguments/],
      [8, { name: "list_tables", _meta: "x" }, /params\._meta/],
    ];
    for (const [id, params] of cases) send({ jsonrpc: "2.0", id, method: "tools/call", params });
    for (const [id, , message] of cases) {
      const answer = await onlyAnswer(id);
      expect(answer.error?.code, JSON.stringify(answer)).toBe(-32602);
      expect(answer.error?.message).toMatch(message);
      expect(answer.error?.message.length).toBeLessThan(600);
    }
  });

  it("answers other malformed requests that carry an id", async () => {
    send({ jsonrpc: "2.0", id: 20, method: "tools/list", params: "str" });
    send({ jsonrpc: "2.0", id: 21, method: "tools/list", extra: true });
    send({ id: 22, method: "ping" });
    send({ jsonrpc: "1.0", id: 23, method: "ping" });
    send({ jsonrpc: "2.0", id: 24, method: "no/such/method" });
    send({ jsonrpc: "2.0", id: 25, method: 12 });
    write('{"jsonrpc":"2.0","id":26,"method":"tools/call","params":{"name":"list_tables"');
    write('{"method":"ping","params":{,},"jsonrpc":"2.0","id":27}');
    send({ jsonrpc: "2.0", id: 28, method: "logging/setLevel", params: { level: "loud" } });
    send({ jsonrpc: "2.0", id: 29, method: "initialize", params: { protocolVersion: 1 } });
    const expected: Array<[number, number, RegExp]> = [
      [20, -32602, /^Invalid params: params: /],
      [21, -32600, /^Invalid request: \(request\): Unrecognized key: "extra"/],
      [22, -32600, /jsonrpc/],
      [23, -32600, /jsonrpc/],
      [24, -32601, /Method not found/],
      [25, -32600, /method/],
      [26, -32700, /^Parse error: the message is not valid JSON/],
      [27, -32700, /^Parse error/],
      [28, -32602, /^Invalid params for logging\/setLevel: params\.level/],
      [29, -32602, /^Invalid params for initialize: params\./],
    ];
    for (const [id, code, message] of expected) {
      const answer = await onlyAnswer(id);
      expect(answer.error?.code, `${id}: ${JSON.stringify(answer)}`).toBe(code);
      expect(answer.error?.message).toMatch(message);
    }
  });

  it("answers text with no usable id with id null, and ignores malformed notifications", async () => {
    const before = answersFor(null).length;
    write("not json at all");
    send([{ jsonrpc: "2.0", id: 30, method: "ping" }]);
    send({ jsonrpc: "2.0", id: { nested: 1 }, method: "ping" });
    send("just a string");
    send({ jsonrpc: "2.0", method: "notifications/cancelled", params: "str" });
    send({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: {} } });
    send({ jsonrpc: "2.0", id: 31, method: "ping" });
    await onlyAnswer(31);
    await until("four id-null errors", () => (answersFor(null).length - before >= 4 ? true : undefined));
    const nulls = answersFor(null).slice(before);
    expect(nulls.map((a) => a.error?.code)).toEqual([-32700, -32600, -32600, -32600]);
    // The batch is refused as a whole: its request is not run.
    expect(answersFor(30)).toHaveLength(0);
  });

  it("keeps answers to huge and hostile arguments short and clear", async () => {
    send({
      jsonrpc: "2.0",
      id: 40,
      method: "tools/call",
      params: { name: "list_tables", arguments: { env: "a".repeat(1_000_000) } },
    });
    send({
      jsonrpc: "2.0",
      id: 41,
      method: "tools/call",
      params: { name: "rollback", arguments: { component: "lambda", to: "9".repeat(5_000_000) } },
    });
    send({
      jsonrpc: "2.0",
      id: 42,
      method: "tools/call",
      params: { name: "health_check", arguments: { env: "constructor" } },
    });
    send({
      jsonrpc: "2.0",
      id: 43,
      method: "tools/call",
      params: { name: "tail_logs", arguments: { since: "99999999999999999999999d" } },
    });
    send({
      jsonrpc: "2.0",
      id: 44,
      method: "tools/call",
      params: { name: "health_check", arguments: { targets: Array(10_000).fill("https://evil.example/") } },
    });
    send({ jsonrpc: "2.0", id: 45, method: "tools/call", params: { name: "no_such_tool", arguments: {} } });
    const env = await onlyAnswer(40, 5000);
    expect(env.result?.isError).toBe(true);
    expect(toolText(env)).toMatch(/env/);
    const to = await onlyAnswer(41, 5000);
    expect(to.result?.isError).toBe(true);
    expect(toolText(to)).toMatch(/"to" must be a release id/);
    const proto = await onlyAnswer(42);
    expect(toolText(proto)).toContain('Unknown env "constructor". Configured envs: dev, prod, staging.');
    const since = await onlyAnswer(43);
    expect(toolText(since)).toMatch(/^since: "99999999999999999999999d" reaches back more than 3653 days/);
    const targets = await onlyAnswer(44);
    expect(toolText(targets)).toMatch(/at most 20 targets per call/);
    const unknown = await onlyAnswer(45);
    expect(unknown.result?.isError ?? unknown.error).toBeTruthy();
    for (const id of [40, 41, 42, 43, 44, 45]) {
      const line = rawLines.find((l) => (JSON.parse(l) as Answer).id === id) ?? "";
      expect(line.length, `reply to ${id}`).toBeLessThan(2_000);
    }
  });

  it("answers a message over 10 MB with an error for its id and stays up", async () => {
    const env = "a".repeat(11 * 1024 * 1024);
    write(
      `{"jsonrpc":"2.0","id":50,"method":"tools/call","params":{"name":"list_tables","arguments":{"env":"${env}"}}}`,
    );
    write(
      `{"method":"tools/call","params":{"name":"list_tables","arguments":{"env":"${env}"}},"jsonrpc":"2.0","id":"fifty-one"}`,
    );
    const first = await onlyAnswer(50, 10_000);
    expect(first.error?.code).toBe(-32600);
    expect(first.error?.message).toMatch(
      /^Invalid request: the message is \d+ bytes; at most 10485760 bytes/,
    );
    const second = await onlyAnswer("fifty-one", 10_000);
    expect(second.error?.code).toBe(-32600);
    send({ jsonrpc: "2.0", id: 52, method: "ping" });
    expect((await onlyAnswer(52)).result).toEqual({});
    send({ jsonrpc: "2.0", id: 53, method: "tools/list" });
    const list = await onlyAnswer(53);
    expect((list.result?.tools as unknown[] | undefined)?.length).toBeGreaterThan(0);
  });

  it("every id sent got exactly one answer", () => {
    const ids = answers.flatMap((a) => (a.id === null || a.id === undefined ? [] : [a.id]));
    expect(new Set(ids).size).toBe(ids.length);
    expect(child.exitCode).toBeNull();
  });
});

describe("message checks (unit)", () => {
  it("passes well-formed messages through unchanged", () => {
    const request = {
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "x", arguments: { a: 1 } },
    };
    expect(checkMessage(request)).toEqual({ ok: request });
    const response = { jsonrpc: "2.0", id: 9, result: { action: "accept" } };
    expect(checkMessage(response)).toEqual({ ok: response });
    const notification = { jsonrpc: "2.0", method: "notifications/initialized" };
    expect(checkMessage(notification)).toEqual({ ok: notification });
  });

  it("drops malformed notifications and responses (nobody to answer)", () => {
    expect(checkMessage({ jsonrpc: "2.0", method: "notifications/cancelled", params: 1 })).toHaveProperty(
      "drop",
    );
    expect(checkMessage({ jsonrpc: "2.0", id: 3, result: "x" })).toHaveProperty("drop");
  });

  it("finds an id only where it is certainly the top-level one", () => {
    expect(guessId('{"jsonrpc":"2.0","id":7,"method":"x","params":{', "")).toBe(7);
    expect(guessId('{"id":"abc","method"', "")).toBe("abc");
    expect(guessId('{"method":"x"', ',"params":{"a":1},"jsonrpc":"2.0","id":12}')).toBe(12);
    expect(guessId('{"method":"x","params":{"id":5', '"params":{"id":5}}')).toBeNull();
    expect(guessId('{"method":"x","id":1.5}', '{"method":"x","id":1.5}')).toBeNull();
    expect(guessId("garbage", "garbage")).toBeNull();
  });
});
