import { randomBytes } from "node:crypto";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import {
  GetAliasCommand,
  type LambdaClient,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionConfigurationCommand,
} from "@aws-sdk/client-lambda";
import { describe, expect, it } from "vitest";
import type { ReleaseRecord } from "../../src/release/types.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { deployStatusTool } from "../../src/tools/deploy-status.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { powertoolsLine, reportLine, seedLogEvents, startLine } from "../support/log-seeder.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";
import { createAliasedFunction, packageOf, readJsonObject, useLambdaEnv } from "./lambda-support.js";

/**
 * deploy_lambda strategy "canary" on moto, whose alias RoutingConfig is real: the test reads
 * the alias back after every case. Lambda writes a version's logs into streams named
 * `YYYY/MM/DD/[VERSION]<id>`; moto runs no code, so the test writes those events itself, once
 * the tool says which version got the share (its progress line), into the function's log group.
 */
const moto = useMoto();
const BUCKET = "vyaparai-artifacts-canary-test";
const env = useLambdaEnv(moto, BUCKET);

/** Short bakes, checked often: what the defaults do in 5 minutes, here in seconds. */
const CANARY_CONFIG = {
  checkIntervalSeconds: 0.2,
  minInvocations: 5,
  maxErrorRatePoints: 1,
  maxTimeoutRatePoints: 1,
  maxP95IncreasePercent: 50,
};
const BAKE_MINUTES = 0.05;

interface Figures {
  version: string;
  invocations: number;
  errors: number;
  timeouts: number;
  p95Ms: number | null;
}
interface Evidence {
  canaryVersion: string;
  stableVersion: string;
  percent: number;
  verdict: string;
  reasons: string[];
  checks: number;
  canary: Figures;
  stable: Figures;
}
interface Out {
  summary: string;
  status: string;
  releaseId?: string;
  version?: string;
  cancelled?: boolean;
  failure?: string;
  phase?: string;
  canary?: Evidence;
  live?: { version: string; codeSha256: string; weights?: Record<string, number> } | null;
  plan: Record<string, unknown>;
  timings?: Record<string, number>;
}

let counter = 0;

async function setUp(canary: Record<string, unknown> = {}) {
  const n = ++counter;
  const functionName = `vyaparai-api-canary-${n}`;
  const envName = `canary${n}`;
  const clients = moto.current.clients();
  const lambda = await clients.lambda();
  const logs = await clients.logs();
  const v0 = await createAliasedFunction(moto.current, lambda, functionName);
  const { appRoot } = writeBackendFixture({ commit: true });
  const runtime = testRuntime({
    moto: moto.current,
    appRoot,
    config: {
      environments: { [envName]: env.envConfig(functionName, "live", `backend/${envName}/`) },
      release: { canary: { ...CANARY_CONFIG, ...canary } },
    },
  });
  return { functionName, envName, lambda, logs, runtime, appRoot, stable: v0.Version as string };
}

/** Finished invocations of one version, as Lambda logs them into that version's stream. */
async function logInvocations(
  logs: CloudWatchLogsClient,
  functionName: string,
  version: string,
  count: number,
  options: { errors?: number; durationMs?: number } = {},
): Promise<void> {
  // Just before now: inside the bake's window, and never ahead of the read that comes next.
  const now = Date.now();
  const events: Array<{ timestamp: number; message: string }> = [];
  for (let i = 0; i < count; i++) {
    const requestId = `${version}-${i}-${randomBytes(4).toString("hex")}-0000-0000`;
    const at = now - count + i;
    events.push({ timestamp: at, message: startLine(requestId) });
    if (i < (options.errors ?? 0)) {
      events.push({
        timestamp: at,
        message: powertoolsLine({ level: "ERROR", message: "KeyError: 'store_id'", requestId }),
      });
    }
    events.push({
      timestamp: at,
      message: reportLine(requestId, {
        durationMs: (options.durationMs ?? 80) + (i % 5),
        maxMemoryUsedMb: 90,
      }),
    });
  }
  const stream = `2026/11/25/[${version}]${randomBytes(16).toString("hex")}`;
  await seedLogEvents(logs, `/aws/lambda/${functionName}`, stream, events);
}

async function aliasRouting(lambda: LambdaClient, functionName: string) {
  const alias = await lambda.send(new GetAliasCommand({ FunctionName: functionName, Name: "live" }));
  return { version: alias.FunctionVersion, weights: alias.RoutingConfig?.AdditionalVersionWeights ?? {} };
}

const ROUTED = /^Routing (\d+)% of alias live to version (\d+) /;

/**
 * Progress that writes the versions' logs once the share is live (the bake's first check,
 * which the tool reports after the split): stable traffic plus whatever `canaryLogs` makes
 * the new version log. Each version's events go out in one PutLogEvents, so a check sees a
 * version's events all or none, and the stable version's go first.
 */
function seedOnRouting(s: Awaited<ReturnType<typeof setUp>>, canaryLogs: (version: string) => Promise<void>) {
  const progress: string[] = [];
  let seeding: Promise<void> | undefined;
  let version: string | undefined;
  return {
    progress,
    get seeding() {
      return seeding;
    },
    hook: (message: string) => {
      progress.push(message);
      version ??= ROUTED.exec(message)?.[2];
      if (version && message.startsWith("Canary check 1:") && !seeding) {
        // Stable first: a check that sees the canary's events sees the stable ones too.
        const canaryVersion = version;
        seeding = logInvocations(s.logs, s.functionName, s.stable, 20).then(() => canaryLogs(canaryVersion));
      }
    },
  };
}

async function recordOf(envName: string, releaseId: string): Promise<ReleaseRecord> {
  const s3 = await moto.current.clients().s3();
  return (await readJsonObject(s3, BUCKET, `releases/${envName}/lambda/${releaseId}.json`)) as ReleaseRecord;
}

describe("deploy_lambda strategy canary", () => {
  it("plans the canary: the share, the bake and the thresholds are part of what is confirmed", async () => {
    const s = await setUp();
    const planned = await invokeTool(
      deployLambdaTool,
      { env: s.envName, strategy: "canary", canaryPercent: 20, bakeMinutes: 2, dryRun: true },
      s.runtime,
    );
    expect(planned.isError, planned.text).toBe(false);
    const out = planned.structured as unknown as Out;
    expect(out.status).toBe("planned");
    expect(out.plan.canary).toEqual({
      percent: 20,
      bakeMinutes: 2,
      thresholds: {
        maxErrorRatePoints: 1,
        maxTimeoutRatePoints: 1,
        maxP95IncreasePercent: 50,
        minInvocations: 5,
      },
    });
    expect(out.summary).toContain(
      `send 20% of alias live's traffic to it for 2 min while version ${s.stable}`,
    );
    // A plain deploy's plan carries no canary (its digest is what it was before canaries).
    const plain = await invokeTool(deployLambdaTool, { env: s.envName, dryRun: true }, s.runtime);
    expect((plain.structured as unknown as Out).plan).not.toHaveProperty("canary");
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({ version: s.stable, weights: {} });
    s.runtime.close();
  });

  it("refuses a canary in $LATEST mode and canary inputs without the canary strategy", async () => {
    const s = await setUp();
    const runtime = testRuntime({
      moto: moto.current,
      appRoot: s.appRoot,
      config: { environments: { latest: env.envConfig(s.functionName, null, "backend/latest/") } },
    });
    const refused = await invokeTool(deployLambdaTool, { env: "latest", strategy: "canary" }, runtime);
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain("$LATEST mode has no alias to split");
    expect(refused.text).toContain("Nothing was changed");
    const stray = await invokeTool(deployLambdaTool, { env: s.envName, bakeMinutes: 1 }, s.runtime);
    expect(stray.isError).toBe(true);
    expect(stray.text).toContain('bakeMinutes only apply to strategy "canary"');
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({ version: s.stable, weights: {} });
    runtime.close();
    s.runtime.close();
  });

  it("does not overwrite a split it did not make; a plain deploy says it ends one", async () => {
    const s = await setUp();
    // Someone else's canary: another published version gets 5% of the alias.
    await s.lambda.send(
      new UpdateFunctionConfigurationCommand({ FunctionName: s.functionName, Description: "by hand" }),
    );
    const other = (await s.lambda.send(new PublishVersionCommand({ FunctionName: s.functionName })))
      .Version as string;
    await s.lambda.send(
      new UpdateAliasCommand({
        FunctionName: s.functionName,
        Name: "live",
        FunctionVersion: s.stable,
        RoutingConfig: { AdditionalVersionWeights: { [other]: 0.05 } },
      }),
    );
    const refused = await invokeTool(deployLambdaTool, { env: s.envName, strategy: "canary" }, s.runtime);
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain(
      `already splits its traffic (version ${other} 5% besides version ${s.stable})`,
    );
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({
      version: s.stable,
      weights: { [other]: 0.05 },
    });
    const plain = await invokeTool(deployLambdaTool, { env: s.envName, dryRun: true }, s.runtime);
    expect((plain.structured as { warnings?: string[] }).warnings?.join(" ")).toContain(
      "this deploy moves the whole alias to the new version, so that split ends",
    );
    s.runtime.close();
  });

  it("(a) a canary whose new version logs errors is rolled back: weights gone, evidence recorded", async () => {
    const s = await setUp();
    const seed = seedOnRouting(s, (version) =>
      logInvocations(s.logs, s.functionName, version, 10, { errors: 5 }),
    );
    const result = await invokeTool(
      deployLambdaTool,
      { env: s.envName, strategy: "canary", canaryPercent: 10, bakeMinutes: 0.2 },
      s.runtime,
      { progress: seed.hook },
    );
    await seed.seeding;
    expect(result.isError, result.text).toBe(true);
    const out = result.structured as unknown as Out;
    expect(out.status).toBe("rolled_back");
    expect(out.failure).toMatch(/^bake-canary: canary failed: error rate 50% on version \d+ \(5 of 10\)/);
    const canaryVersion = out.version as string;
    expect(canaryVersion).not.toBe(s.stable);
    expect(out.canary).toMatchObject({
      canaryVersion,
      stableVersion: s.stable,
      percent: 10,
      verdict: "failed",
      canary: { version: canaryVersion, invocations: 10, errors: 5, timeouts: 0 },
      stable: { version: s.stable, invocations: 20, errors: 0, timeouts: 0 },
    });
    expect(out.summary).toContain("the canary failed (error rate 50%");
    // Read back: the alias is on the stable version alone.
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({ version: s.stable, weights: {} });
    expect(out.live).toMatchObject({ version: s.stable, weights: {} });
    // The record says rolled back and holds the evidence per version.
    const record = await recordOf(s.envName, out.releaseId as string);
    expect(record.status).toBe("rolled_back");
    expect(record.journal.map((j) => j.phase)).toEqual([
      "locked",
      "uploading",
      "switching",
      "baking",
      "undoing",
    ]);
    expect(record.evidence).toMatchObject({
      kind: "lambda-canary",
      verdict: "failed",
      canary: { version: canaryVersion, invocations: 10, errors: 5 },
      stable: { version: s.stable, invocations: 20, errors: 0 },
    });
    expect(record.after).toMatchObject({ version: s.stable, failedVersion: canaryVersion });
    // It stopped early: a clear failure does not wait for the end of the bake.
    expect(out.timings?.["bake-canaryMs"]).toBeLessThan(0.2 * 60_000);
    // Progress every check, with the figures.
    expect(seed.progress.filter((m) => m.startsWith("Canary check ")).length).toBeGreaterThan(0);
    s.runtime.close();
  });

  it("(b) a clean canary is promoted: the alias on the new version alone", async () => {
    const s = await setUp();
    const seed = seedOnRouting(s, (version) => logInvocations(s.logs, s.functionName, version, 10));
    const started = performance.now();
    const result = await invokeTool(
      deployLambdaTool,
      { env: s.envName, strategy: "canary", canaryPercent: 25, bakeMinutes: BAKE_MINUTES },
      s.runtime,
      { progress: seed.hook },
    );
    const wallMs = performance.now() - started;
    await seed.seeding;
    expect(result.isError, result.text).toBe(false);
    const out = result.structured as unknown as Out;
    expect(out.status).toBe("deployed");
    const version = out.version as string;
    expect(out.canary).toMatchObject({
      canaryVersion: version,
      percent: 25,
      verdict: "passed",
      canary: { invocations: 10, errors: 0 },
      stable: { invocations: 20, errors: 0 },
    });
    expect(out.summary).toContain("The canary passed");
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({ version, weights: {} });
    expect(out.live).toMatchObject({ version, weights: {} });
    const record = await recordOf(s.envName, out.releaseId as string);
    expect(record.status).toBe("succeeded");
    expect(record.journal.map((j) => j.phase)).toEqual([
      "locked",
      "uploading",
      "switching",
      "baking",
      "switching",
      "verifying",
    ]);
    expect(record.evidence).toMatchObject({ verdict: "passed", canaryVersion: version });
    expect(record.after).toMatchObject({ version, codeSha256: (await packageOf(s.appRoot)).codeSha256 });
    // The bake lasted its planned time, checked every interval and said so each time.
    const bakeMs = out.timings?.["bake-canaryMs"] as number;
    const checks = seed.progress.filter((m) => m.startsWith("Canary check ")).length;
    expect(bakeMs).toBeGreaterThanOrEqual(BAKE_MINUTES * 60_000 - 50);
    expect(bakeMs).toBeLessThan(BAKE_MINUTES * 60_000 + 5_000);
    expect(checks).toBeGreaterThanOrEqual(5);
    process.stdout.write(
      `\ncanary bake: planned ${BAKE_MINUTES * 60_000} ms, measured ${bakeMs} ms over ${checks} checks (interval ${CANARY_CONFIG.checkIntervalSeconds * 1000} ms); whole call ${Math.round(wallMs)} ms\n`,
    );
    s.runtime.close();
  });

  it("a canary with too little traffic is not promoted", async () => {
    const s = await setUp({ minInvocations: 50 });
    const seed = seedOnRouting(s, (version) => logInvocations(s.logs, s.functionName, version, 3));
    const result = await invokeTool(
      deployLambdaTool,
      { env: s.envName, strategy: "canary", bakeMinutes: BAKE_MINUTES },
      s.runtime,
      { progress: seed.hook },
    );
    await seed.seeding;
    const out = result.structured as unknown as Out;
    expect(out.status).toBe("rolled_back");
    expect(out.canary?.verdict).toBe("insufficient_traffic");
    expect(out.canary?.reasons[0]).toContain("fewer than release.canary.minInvocations (50)");
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({ version: s.stable, weights: {} });
    s.runtime.close();
  });

  it("a canary much slower than the stable version is rolled back on p95", async () => {
    const s = await setUp();
    const seed = seedOnRouting(s, (version) =>
      logInvocations(s.logs, s.functionName, version, 10, { durationMs: 400 }),
    );
    const result = await invokeTool(
      deployLambdaTool,
      { env: s.envName, strategy: "canary", bakeMinutes: 0.2 },
      s.runtime,
      { progress: seed.hook },
    );
    await seed.seeding;
    const out = result.structured as unknown as Out;
    expect(out.status).toBe("rolled_back");
    expect(out.canary?.reasons.join(" ")).toMatch(/p95 40\d ms on version \d+ vs 8\d ms/);
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({ version: s.stable, weights: {} });
    s.runtime.close();
  });

  it("(e) cancelling mid-bake removes the weights", async () => {
    const s = await setUp();
    const controller = new AbortController();
    let sawWeights: Record<string, number> | undefined;
    const checking: Promise<void>[] = [];
    const result = await invokeTool(
      deployLambdaTool,
      { env: s.envName, strategy: "canary", canaryPercent: 10, bakeMinutes: 1 },
      s.runtime,
      {
        signal: controller.signal,
        progress: (message) => {
          if (message.startsWith("Canary check 1:") && !controller.signal.aborted) {
            // The share is live mid-bake; read it back, then cancel.
            checking.push(
              aliasRouting(s.lambda, s.functionName).then((routing) => {
                sawWeights = routing.weights;
                controller.abort();
              }),
            );
          }
        },
      },
    );
    await Promise.all(checking);
    const out = result.structured as unknown as Out;
    expect(Object.values(sawWeights ?? {})).toEqual([0.1]);
    expect(out.status).toBe("rolled_back");
    expect(out.cancelled).toBe(true);
    expect(out.canary?.verdict).toBe("cancelled");
    expect(out.summary).toContain("the call was cancelled mid-bake");
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({ version: s.stable, weights: {} });
    const record = await recordOf(s.envName, out.releaseId as string);
    expect(record.status).toBe("rolled_back");
    expect(record.evidence).toMatchObject({ verdict: "cancelled" });
    // It did not wait for the minute it was planned for.
    expect(out.timings?.["bake-canaryMs"]).toBeLessThan(30_000);
    s.runtime.close();
  });

  it("(d) wait: false answers at once; deploy_status {releaseId} shows the phase, the figures, then the outcome", async () => {
    const s = await setUp();
    const bakeMinutes = 0.2;
    const started = performance.now();
    const answer = await invokeTool(
      deployLambdaTool,
      { env: s.envName, strategy: "canary", canaryPercent: 10, bakeMinutes, wait: false },
      s.runtime,
    );
    const answeredMs = performance.now() - started;
    expect(answer.isError, answer.text).toBe(false);
    const out = answer.structured as unknown as Out;
    expect(out.status).toBe("in_progress");
    const releaseId = out.releaseId as string;
    expect(releaseId).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/);
    expect(out.summary).toContain(`deploy_status {"env": "${s.envName}", "releaseId": "${releaseId}"}`);
    // Answered before the release could have baked.
    expect(answeredMs).toBeLessThan(bakeMinutes * 60_000);

    const status = async () => {
      const r = await invokeTool(deployStatusTool, { env: s.envName, releaseId }, s.runtime);
      expect(r.isError, r.text).toBe(false);
      return r.structured as unknown as {
        summary: string;
        lock: { state: string; releaseId: string } | null;
        release: {
          state: string;
          status: string;
          phase: string | null;
          outcome: string | null;
          canary?: Evidence;
        };
      };
    };
    const poll = async <T>(what: string, check: (s: Awaited<ReturnType<typeof status>>) => T | undefined) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const current = await status();
        const found = check(current);
        if (found !== undefined) return { found, current };
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${current.summary}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const first = await status();
    expect(first.release.state).toBe("running");
    expect(first.release.outcome).toBeNull();
    expect(first.lock).toMatchObject({ state: "live", releaseId });

    // Baking: the share is live; the new version's logs arrive; the figures so far show them.
    await poll("phase baking", (r) => (r.release.phase === "baking" ? true : undefined));
    let weights: Record<string, number> = {};
    const deadline = Date.now() + 30_000;
    while (Object.keys(weights).length === 0 && Date.now() < deadline) {
      weights = (await aliasRouting(s.lambda, s.functionName)).weights;
    }
    const canaryVersion = Object.keys(weights)[0] as string;
    await Promise.all([
      logInvocations(s.logs, s.functionName, s.stable, 20),
      logInvocations(s.logs, s.functionName, canaryVersion, 10),
    ]);
    // A check may read one version's logs before the other's are written: wait for a check
    // that saw both (the figures only grow while the bake lasts).
    const { current: midway } = await poll("the canary's figures so far", (r) =>
      r.release.phase === "baking" &&
      (r.release.canary?.canary.invocations ?? 0) >= 10 &&
      (r.release.canary?.stable.invocations ?? 0) >= 20
        ? true
        : undefined,
    );
    expect(midway.release).toMatchObject({
      state: "running",
      status: "in_progress",
      outcome: null,
      canary: { canaryVersion, verdict: "baking", canary: { invocations: 10 }, stable: { invocations: 20 } },
    });
    expect(midway.summary).toContain(`running, phase baking. Canary version ${canaryVersion} at 10%`);

    const { current: done } = await poll("the outcome", (r) =>
      r.release.state === "finished" ? true : undefined,
    );
    expect(done.release).toMatchObject({
      status: "succeeded",
      outcome: "promoted",
      canary: { verdict: "passed" },
    });
    expect(done.summary).toContain("finished succeeded (canary promoted)");
    expect(await aliasRouting(s.lambda, s.functionName)).toEqual({ version: canaryVersion, weights: {} });
    // The lock is released once the background release ended.
    await poll("the lock released", (r) => (r.lock === null ? true : undefined));
    s.runtime.close();
  });
});
