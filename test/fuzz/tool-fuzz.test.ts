import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AwsClients } from "../../src/aws/clients.js";
import { useMoto } from "../support/moto.js";
import { loadToolSpecs, MUTATING_TOOLS, slipCases, type ToolCase, toolCaseArb } from "./arbitraries.js";
import { type AwsState, diffAwsState, readAwsState, releaseMachineryKeys } from "./aws-state.js";
import { FuzzRecorder } from "./fuzz-stats.js";
import { toJsonText } from "./json-text.js";
import { answerText, isErrorAnswer, type Outcome, RawServer } from "./raw-channel.js";
import { unnamedDefects } from "./tool-checks.js";
import { buildToolWorld, WORLD } from "./tool-world.js";

/**
 * Property-based fuzz of every tool through the real stdio server, against moto. Every case
 * sent to a tool that can change AWS is invalid, and the config has an unprotected dev env
 * whose valid call would really deploy: so a misspelt dryRun that is dropped instead of
 * refused shows up as a changed CodeSha256 or new site objects, not just as a wrong message.
 *
 * Per case: the server stays up, answers within ANSWER_BOUND_MS, with at most
 * REPLY_BOUND_BYTES; an invalid case is an error naming what was broken. Moto is read back
 * every AWS_CHECK_EVERY cases, after any accepted mutating call, and at the end.
 */
const SEED = 20_260_125;
const RUNS_PER_TOOL = 250;
const ANSWER_BOUND_MS = 10_000;
const REPLY_BOUND_BYTES = 64 * 1024;
const AWS_CHECK_EVERY = 50;

const moto = useMoto();
const specs = loadToolSpecs();
const recorder = new FuzzRecorder("tools");
let server: RawServer;
let clients: AwsClients;
let seeded: AwsState;
let nextId = 0;

beforeAll(async () => {
  const { appRoot } = await buildToolWorld(moto.current);
  clients = moto.current.clients();
  seeded = await readAwsState(clients);
  server = await RawServer.start({ cwd: appRoot, env: { AWS_ENDPOINT_URL: moto.current.endpoint } });
});

afterAll(async () => {
  await server?.close();
  recorder.publish();
});

async function callTool(name: string, argsJson: string): Promise<{ id: number; outcome: Outcome }> {
  const id = ++nextId;
  const line = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":${JSON.stringify(name)},"arguments":${argsJson}}}`;
  return { id, outcome: await server.request(id, line, ANSWER_BOUND_MS) };
}

/** Structured content of a successful call (the fixture checks read plans from it). */
function structured(outcome: Outcome): Record<string, unknown> {
  if (outcome.kind !== "answer") throw new Error(`no answer: ${outcome.kind}; ${server.stderr()}`);
  return (outcome.answer.message.result?.structuredContent ?? {}) as Record<string, unknown>;
}

/**
 * Compares moto with the reference; a change is a violation attributed to `target`. The
 * reference then moves on, so each change is reported once, by the check that first saw it
 * (the final test still compares with the seeded state).
 */
async function checkAws(reference: { state: AwsState }, target: string, after: string): Promise<void> {
  const now = await readAwsState(clients);
  const changes = diffAwsState(reference.state, now);
  if (changes.length > 0) {
    recorder.violation("awsChange", target, `after ${after}: ${changes.slice(0, 8).join("; ")}`);
    reference.state = now;
  }
}

/** Runs one case and records every invariant it breaks; throws only when the server died or hung. */
async function runCase(toolCase: ToolCase, reference: { state: AwsState }, counter: { sinceCheck: number }) {
  const { tool } = toolCase;
  const argsJson = toJsonText(toolCase.args);
  recorder.tried(
    tool,
    Buffer.byteLength(argsJson, "utf8"),
    toolCase.defects.map((d) => d.kind),
  );
  if (toolCase.defects.length === 0) recorder.validCase();
  const { id, outcome } = await callTool(tool, argsJson);
  const what = () => `${tool} ${toolCase.describe()}`;
  if (outcome.kind === "exited" || !server.alive()) {
    recorder.violation(
      "crash",
      tool,
      `${what()} → server ${server.exitStatus()}; stderr: ${server.stderr()}`,
    );
    throw new Error(`the server died on ${what()}`);
  }
  if (outcome.kind === "timeout") {
    recorder.violation("hang", tool, `${what()} → no answer to id ${id} within ${ANSWER_BOUND_MS} ms`);
    // A stuck server would make every later case wait out the bound too.
    throw new Error(`the server hung on ${what()}`);
  }
  const { answer } = outcome;
  const isError = isErrorAnswer(answer);
  recorder.reply(answer.bytes, isError, outcome.ms, what);
  const text = answerText(answer);
  const { result, error } = answer.message;
  if (
    (result === undefined) === (error === undefined) ||
    (answer.message as { jsonrpc?: unknown }).jsonrpc !== "2.0"
  ) {
    recorder.violation(
      "badAnswer",
      tool,
      `${what()} → not one result or error: ${answer.line.slice(0, 300)}`,
    );
  }
  if (answer.bytes > REPLY_BOUND_BYTES) {
    recorder.violation("oversized", tool, `${what()} → ${answer.bytes} bytes: ${text.slice(0, 200)}`);
  }
  const invalid = toolCase.defects.length > 0;
  if (invalid && !isError) {
    const broke = toolCase.defects.map((d) => `${d.kind}:${JSON.stringify(d.field.slice(0, 40))}`).join(", ");
    recorder.violation(
      "invalidAccepted",
      tool,
      `${what()} [broke ${broke}] → accepted: ${text.slice(0, 400)}`,
    );
  } else if (invalid) {
    const missing = unnamedDefects(text, toolCase);
    if (missing) {
      const names = missing.map((d) => `${d.kind}:${JSON.stringify(d.field.slice(0, 40))}`).join(", ");
      recorder.violation("unnamed", tool, `${what()} → does not name ${names}: ${text.slice(0, 400)}`);
    }
  }
  // An accepted call of a mutating tool is read back at once, so a change is pinned to it.
  counter.sinceCheck++;
  if (counter.sinceCheck >= AWS_CHECK_EVERY || (!isError && MUTATING_TOOLS.has(tool))) {
    counter.sinceCheck = 0;
    await checkAws(reference, tool, what());
  }
}

describe("tool fuzz over the real stdio server", () => {
  it("serves exactly the snapshotted tools, each refusing unknown keys in its schema", async () => {
    const id = ++nextId;
    const outcome = await server.request(
      id,
      JSON.stringify({ jsonrpc: "2.0", id, method: "tools/list" }),
      ANSWER_BOUND_MS,
    );
    if (outcome.kind !== "answer") throw new Error(`tools/list: ${outcome.kind}`);
    const tools = (outcome.answer.message.result?.tools ?? []) as Array<{
      name: string;
      inputSchema: { additionalProperties?: unknown };
      annotations?: { readOnlyHint?: boolean };
    }>;
    expect(tools.map((t) => t.name).sort()).toEqual(specs.map((s) => s.name).sort());
    for (const tool of tools) {
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
      // Every tool that may change AWS is in the invalid-only set.
      if (tool.annotations?.readOnlyHint !== true)
        expect(MUTATING_TOOLS.has(tool.name), tool.name).toBe(true);
    }
  });

  it("is armed: valid dev calls would deploy, prod asks for confirmation, and dry runs change nothing", async () => {
    const lambda = structured((await callTool("deploy_lambda", '{"env":"dev","dryRun":true}')).outcome);
    expect(lambda.status, JSON.stringify(lambda).slice(0, 400)).toBe("planned");
    const plan = lambda.plan as { codeSha256: string; fromCodeSha256: string };
    // The plan read the live code (same format as the read-back) and would replace it.
    expect(plan.fromCodeSha256).toBe(seeded.functions[WORLD.functionDev]?.codeSha256);
    expect(plan.codeSha256).not.toBe(plan.fromCodeSha256);
    const site = structured(
      (await callTool("deploy_frontend", '{"env":"dev","dryRun":true,"skipBuild":true}')).outcome,
    );
    expect(site.status, JSON.stringify(site).slice(0, 400)).toBe("planned");
    expect((site.plan as { upload: number }).upload).toBeGreaterThan(0);
    const prod = structured((await callTool("deploy_lambda", "{}")).outcome);
    expect(prod.status, JSON.stringify(prod).slice(0, 400)).toBe("confirmation_required");
    expect(diffAwsState(seeded, await readAwsState(clients))).toEqual([]);
  });

  for (const spec of specs) {
    const kind = MUTATING_TOOLS.has(spec.name) ? "invalid calls only" : "valid and invalid calls";
    it(`${spec.name}: ${RUNS_PER_TOOL} cases (${kind}) are answered, bounded, named, and change nothing`, async () => {
      const reference = { state: await readAwsState(clients) };
      const counter = { sinceCheck: 0 };
      await fc.assert(
        fc.asyncProperty(toolCaseArb(spec), (toolCase) => runCase(toolCase, reference, counter)),
        {
          seed: SEED,
          numRuns: RUNS_PER_TOOL,
          examples: slipCases(spec).map((slip): [ToolCase] => [slip]),
          // Shrinking a crash is meaningless (every later case meets a dead server).
          endOnFailure: true,
        },
      );
      await checkAws(reference, spec.name, `the last ${spec.name} case`);
      expect(recorder.report(spec.name), "violations").toBe("");
    }, 120_000);
  }

  it("leaves AWS exactly as seeded, every id answered once, and the server up", async () => {
    const now = await readAwsState(clients);
    expect(diffAwsState(seeded, now)).toEqual([]);
    expect(releaseMachineryKeys(now)).toEqual([]);
    expect(now.functions[WORLD.functionDev]?.codeSha256).toBe(
      seeded.functions[WORLD.functionDev]?.codeSha256,
    );
    expect(now.functions[WORLD.functionProd]?.aliases).toEqual({ live: "1" });
    const notOnce = Array.from({ length: nextId }, (_, i) => i + 1).filter(
      (id) => server.answersFor(id).length !== 1,
    );
    expect(notOnce, "ids not answered exactly once").toEqual([]);
    expect(server.garbage, "stdout lines that are not JSON").toEqual([]);
    expect(server.alive(), server.exitStatus()).toBe(true);
    expect(recorder.stats.cases).toBeGreaterThanOrEqual(specs.length * RUNS_PER_TOOL);
    expect({
      crashes: recorder.stats.crashes,
      hangs: recorder.stats.hangs,
      invalidAccepted: recorder.stats.invalidAccepted,
      awsChanges: recorder.stats.awsChanges,
    }).toEqual({ crashes: 0, hangs: 0, invalidAccepted: 0, awsChanges: 0 });
  });
});
