import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FuzzRecorder } from "./fuzz-stats.js";
import { idKey, RawServer, type ReceivedLine, type RequestId } from "./raw-channel.js";
import { type RpcCase, rpcCaseArb } from "./rpc-arbitraries.js";

/**
 * Property-based fuzz of the JSON-RPC channel of the built stdio server (the arbitrary
 * counterpart of test/server/jsonrpc-malformed.test.ts). Every request with a usable id gets
 * exactly one answer within ANSWER_BOUND_MS, an error when the JSON-RPC or MCP schemas
 * certainly refuse it; other malformed lines get the one error (or the silence) JSON-RPC
 * prescribes; no reply is over REPLY_BOUND_BYTES; the server stays up.
 *
 * After each case a ping with a fresh id goes out as a barrier: the errors the transport
 * writes for a line come before the answer to the line after it, so when the barrier is
 * answered, everything the case was owed synchronously has arrived.
 */
const SEED = 20_260_126;
const RUNS = 500;
const ANSWER_BOUND_MS = 10_000;
const REPLY_BOUND_BYTES = 64 * 1024;
/** Barrier ids live in their own range, apart from every generated id. */
const BARRIER_BASE = 500_000_000;

const recorder = new FuzzRecorder("jsonrpc");
let server: RawServer;
let barriers = 0;
/** Ids owed exactly one answer, and ids owed none (responses, notifications). */
const owedOne = new Map<string, string>();
const owedNone = new Map<string, string>();

beforeAll(async () => {
  const cwd = mkdtempSync(join(tmpdir(), "vyaparai-rpc-fuzz-"));
  // No health targets and no site URL: a valid health_check checks nothing and returns at
  // once, without reaching the network. --read-only: destructive tools are not registered.
  writeFileSync(
    join(cwd, "deploy.config.json"),
    JSON.stringify({
      environments: {
        prod: {
          health: [],
          frontend: { buckets: ["vyaparai-frontend-prod"], distributionId: null, url: null },
        },
      },
    }),
  );
  // Every AWS call meets a closed port.
  server = await RawServer.start({
    cwd,
    env: { AWS_ENDPOINT_URL: "http://127.0.0.1:9" },
    args: ["--read-only"],
  });
});

afterAll(async () => {
  await server?.close();
  recorder.publish();
});

function wellFormed(reply: ReceivedLine): string | null {
  const { message } = reply;
  const hasResult = "result" in message;
  const hasError = "error" in message;
  if ((message as { jsonrpc?: unknown }).jsonrpc !== "2.0") return "no jsonrpc 2.0";
  if (hasResult === hasError) return "not exactly one of result and error";
  if (hasError && (!Number.isInteger(message.error?.code) || typeof message.error?.message !== "string")) {
    return "error without an integer code and a message";
  }
  return null;
}

/** Records the crash and stops the property: every later case would meet a dead server. */
function serverDied(rpcCase: RpcCase): never {
  const detail = `${rpcCase.describe()} → server ${server.exitStatus()}; ${server.stderr()}`;
  recorder.violation("crash", rpcCase.label, detail);
  throw new Error(`the server died on ${rpcCase.describe()}`);
}

async function runRpcCase(rpcCase: RpcCase): Promise<void> {
  const owed =
    rpcCase.expect.kind === "answer" && rpcCase.expect.refused ? "answer (an error)" : rpcCase.expect.kind;
  recorder.tried(
    rpcCase.label,
    rpcCase.chunks.reduce((sum, chunk) => sum + chunk.length, 0),
    [owed],
  );
  // A request nothing certainly refuses may be valid (the well-formed ones are).
  if (rpcCase.expect.kind === "answer" && !rpcCase.expect.refused) recorder.validCase();
  const what = () => rpcCase.describe();
  const windowStart = server.received.length;
  for (const chunk of rpcCase.chunks) server.write(chunk);
  const barrierId = BARRIER_BASE + ++barriers;
  const barrier = await server.request(
    barrierId,
    JSON.stringify({ jsonrpc: "2.0", id: barrierId, method: "ping" }),
    ANSWER_BOUND_MS,
  );
  if (barrier.kind === "exited" || !server.alive()) serverDied(rpcCase);
  if (barrier.kind === "timeout") {
    recorder.violation("hang", rpcCase.label, `${what()} → the ping after it got no answer`);
    // A stuck server would make every later case wait out the bound too.
    throw new Error(`the server hung on ${what()}`);
  }
  const expectation = rpcCase.expect;
  const replies = new Map<ReceivedLine, number>([[barrier.answer, barrier.ms]]);
  if (expectation.kind === "answer") {
    owedOne.set(idKey(expectation.id), what());
    const outcome = await server.waitFor(expectation.id, ANSWER_BOUND_MS);
    if (outcome.kind === "exited") serverDied(rpcCase);
    if (outcome.kind === "timeout") {
      recorder.violation("hang", rpcCase.label, `${what()} → no answer to ${idKey(expectation.id)}`);
    } else {
      replies.set(outcome.answer, outcome.ms);
      const { error, result } = outcome.answer.message;
      if (expectation.refused && error === undefined && result?.isError !== true) {
        recorder.violation(
          "invalidAccepted",
          rpcCase.label,
          `${what()} → ${outcome.answer.line.slice(0, 300)}`,
        );
      }
    }
  } else if (expectation.kind === "nothing" && expectation.id !== undefined) {
    owedNone.set(idKey(expectation.id), what());
  }
  // Answers only: notifications (progress, log messages) carry a method and no id.
  const window = server.received
    .slice(windowStart, server.received.indexOf(barrier.answer))
    .filter((reply) => "id" in reply.message && !("method" in reply.message));
  for (const reply of window) if (!replies.has(reply)) replies.set(reply, 0);
  for (const [reply, ms] of replies) {
    recorder.reply(reply.bytes, "error" in reply.message, ms, what);
    const problem = wellFormed(reply);
    if (problem)
      recorder.violation("badAnswer", rpcCase.label, `${what()} → ${problem}: ${reply.line.slice(0, 200)}`);
    if (reply.bytes > REPLY_BOUND_BYTES) {
      recorder.violation(
        "oversized",
        rpcCase.label,
        `${what()} → ${reply.bytes} bytes: ${reply.line.slice(0, 200)}`,
      );
    }
  }
  // Answers without a request to pin them to: id null, or the id of a line that did not parse.
  const pinned = (ids: Array<RequestId | null>) =>
    window.filter((reply) => ids.some((id) => idKey(reply.message.id) === idKey(id)));
  if (expectation.kind === "oneError") {
    const errors = pinned(expectation.ids);
    if (errors.length !== 1 || !("error" in (errors[0]?.message ?? {}))) {
      const seen = errors.map((r) => r.line.slice(0, 150)).join(" | ");
      recorder.violation(
        "badAnswer",
        rpcCase.label,
        `${what()} → expected one error, got ${errors.length}: ${seen}`,
      );
    }
  } else {
    const stray = pinned([null]);
    if (stray.length > 0) {
      recorder.violation(
        "badAnswer",
        rpcCase.label,
        `${what()} → unexpected id-null answer: ${stray[0]?.line.slice(0, 200)}`,
      );
    }
  }
}

describe("JSON-RPC fuzz over the real stdio server", () => {
  it(`answers ${RUNS} arbitrary malformed messages as JSON-RPC prescribes`, async () => {
    await fc.assert(fc.asyncProperty(rpcCaseArb, runRpcCase), {
      seed: SEED,
      numRuns: RUNS,
      endOnFailure: true,
    });
    expect(recorder.report(), "violations").toBe("");
  }, 120_000);

  it("answered every usable id exactly once and nothing else, and stays up", async () => {
    const last = BARRIER_BASE + ++barriers;
    const final = await server.request(
      last,
      JSON.stringify({ jsonrpc: "2.0", id: last, method: "tools/list" }),
      ANSWER_BOUND_MS,
    );
    expect(final.kind).toBe("answer");
    const wrongCount = [...owedOne]
      .filter(([key]) => server.answersFor(JSON.parse(key)).length !== 1)
      .map(
        ([key, what]) =>
          `${key}: ${server.answersFor(JSON.parse(key)).length} answers to ${what.slice(0, 200)}`,
      );
    expect(wrongCount).toEqual([]);
    const answeredResponses = [...owedNone].filter(([key]) => server.answersFor(JSON.parse(key)).length > 0);
    expect(answeredResponses).toEqual([]);
    expect(server.garbage, "stdout lines that are not JSON").toEqual([]);
    expect(server.alive(), server.exitStatus()).toBe(true);
    expect({
      crashes: recorder.stats.crashes,
      hangs: recorder.stats.hangs,
      invalidAccepted: recorder.stats.invalidAccepted,
      badAnswers: recorder.stats.badAnswers,
    }).toEqual({ crashes: 0, hangs: 0, invalidAccepted: 0, badAnswers: 0 });
  });
});
