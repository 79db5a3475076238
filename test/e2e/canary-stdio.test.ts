import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetAliasCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import { writeSampleApp } from "../../src/demo/sample-app.js";
import { createBucket } from "../../src/emulator/seed.js";
import { createAliasedFunction } from "../deploy/lambda-support.js";
import { useMoto } from "../support/moto.js";
import { BUILT_CLI, BUILT_SERVER } from "../support/stdio.js";

/**
 * Long releases do not hold the call, through the built stdio server: a canary whose bake is
 * longer than release.canary.maxWaitMinutes (or asked with wait: false) answers at once with
 * its release id and runs on in the server process after the answer — no progress for the
 * answered call reaches the client any more, the lock stays held, and deploy_status
 * {releaseId} follows it to its outcome. The CLI, which exits after its answer, refuses
 * wait: false and waits for a long bake instead.
 */
const moto = useMoto();
const ARTIFACT_BUCKET = "canary-e2e-artifacts";
let lambda: LambdaClient;
let health: LocalHealthServer;
const roots: string[] = [];

beforeAll(async () => {
  const clients = moto.current.clients();
  lambda = await clients.lambda();
  await createBucket(await clients.s3(), ARTIFACT_BUCKET);
  health = await startHealthServer();
}, 60_000);

afterAll(async () => {
  await health?.close();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

type Structured = Record<string, unknown>;

async function appFor(env: string, fn: string): Promise<{ root: string; stable: string }> {
  const stable = (await createAliasedFunction(moto.current, lambda, fn)).Version as string;
  await createBucket(await moto.current.clients().s3(), `${env}-site`);
  const root = mkdtempSync(join(tmpdir(), "vyaparai-canary-e2e-"));
  roots.push(root);
  writeSampleApp({
    root,
    config: {
      environments: {
        [env]: {
          lambda: {
            functionName: fn,
            alias: "live",
            artifactBucket: ARTIFACT_BUCKET,
            artifactPrefix: `backend/${env}/`,
          },
          frontend: { buckets: [`${env}-site`], distributionId: null, url: null },
          health: [{ name: "api", url: health.url, expectStatus: 200, expectJson: { status: "ok" } }],
          tables: { expected: [] },
        },
      },
      backend: { testCommand: "echo '1 passed in 0.01s'" },
      frontend: { buildCommand: null, testCommand: null },
      // Any bake is "long" here (maxWaitMinutes 0); judged on health alone (nothing invokes it).
      release: { canary: { checkIntervalSeconds: 0.3, minInvocations: 0, maxWaitMinutes: 0 } },
    },
  });
  return { root, stable };
}

async function connect(cwd: string, path = BUILT_SERVER) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [path],
    cwd,
    env: { ...(process.env as Record<string, string>) },
    stderr: "pipe",
  });
  const client = new Client({ name: "vyaparai-canary-e2e", version: "0.0.0" });
  const errors: string[] = [];
  const logs: string[] = [];
  await client.connect(transport);
  client.onerror = (error) => errors.push(error.message);
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(String(n.params.data));
  });
  const call = async (name: string, args: Structured, onProgress?: (m: string) => void) => {
    const result = await client.callTool({ name, arguments: args }, undefined, {
      timeout: 120_000,
      ...(onProgress ? { onprogress: (p: { message?: string }) => onProgress(String(p.message ?? "")) } : {}),
    });
    return {
      isError: Boolean(result.isError),
      s: (result.structuredContent ?? {}) as Structured,
      text: (result.content as Array<{ text: string }>)[0]?.text ?? "",
    };
  };
  return { client, call, errors, logs, close: () => client.close() };
}

async function aliasRouting(fn: string) {
  const alias = await lambda.send(new GetAliasCommand({ FunctionName: fn, Name: "live" }));
  return { version: alias.FunctionVersion, weights: alias.RoutingConfig?.AdditionalVersionWeights ?? {} };
}

describe("a long canary over stdio", () => {
  it("answers at once, runs on in the server, and deploy_status {releaseId} follows it to its outcome", async () => {
    const env = "ce-1";
    const fn = "canary-e2e-fn-1";
    const { root, stable } = await appFor(env, fn);
    const session = await connect(root);
    try {
      const progress: string[] = [];
      const started = performance.now();
      // No wait: false: the bake (0.1 min) is longer than maxWaitMinutes (0), so it does not hold the call.
      const answer = await session.call(
        "deploy_lambda",
        { env, strategy: "canary", canaryPercent: 10, bakeMinutes: 0.1 },
        (m) => progress.push(m),
      );
      const answeredMs = performance.now() - started;
      expect(answer.isError, answer.text).toBe(false);
      expect(answer.s.status).toBe("in_progress");
      const releaseId = answer.s.releaseId as string;
      expect(answeredMs).toBeLessThan(6_000);
      const progressAtAnswer = progress.length;

      // It runs on: the lock names it, the record advances to baking with figures, then it ends.
      const seen = new Set<string>();
      let last: Structured = {};
      const deadline = Date.now() + 60_000;
      for (;;) {
        const status = await session.call("deploy_status", { env, releaseId });
        expect(status.isError, status.text).toBe(false);
        last = status.s;
        const release = last.release as { state: string; phase: string; canary?: { checks: number } };
        seen.add(`${release.state}/${release.phase}${release.canary ? "/figures" : ""}`);
        if (release.state === "running") expect(last.lock).toMatchObject({ state: "live", releaseId });
        if (release.state === "finished") break;
        if (Date.now() > deadline) throw new Error(`the release did not finish: ${String(last.summary)}`);
        await new Promise((r) => setTimeout(r, 150));
      }
      expect([...seen]).toContain("running/baking/figures");
      expect(last.release).toMatchObject({
        status: "succeeded",
        outcome: "promoted",
        canary: { verdict: "passed" },
      });
      const after = await aliasRouting(fn);
      expect(after.version).not.toBe(stable);
      expect(after.weights).toEqual({});
      // After the answer no progress for that call reached the client (it would not know the token).
      expect(progress.length).toBe(progressAtAnswer);
      expect(session.errors.filter((e) => /progress notification/i.test(e))).toEqual([]);
      // The client's log says how it ended.
      const deadlineLog = Date.now() + 5_000;
      while (!session.logs.some((l) => l.includes(`Release ${releaseId} finished: canary promoted.`))) {
        if (Date.now() > deadlineLog) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(session.logs).toContain(`Release ${releaseId} finished: canary promoted.`);
      // The lock was released when it ended.
      const final = await session.call("deploy_status", { env });
      expect(final.s.lock).toBeNull();
      expect(final.s.drift).toEqual([]);
    } finally {
      await session.close();
    }
  }, 120_000);

  it("the CLI refuses wait: false, and waits for a long bake (saying so)", async () => {
    const env = "ce-2";
    const fn = "canary-e2e-fn-2";
    const { root } = await appFor(env, fn);
    // Not spawnSync: the health endpoint the CLI checks lives in this process.
    const run = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BUILT_CLI, "deploy_lambda", "--env", env, ...args, "--json"],
          { cwd: root, encoding: "utf8", env: { ...process.env }, timeout: 120_000 },
          (error, stdout, stderr) => {
            const code = (error as { code?: unknown } | null)?.code;
            resolve({ status: error ? (typeof code === "number" ? code : null) : 0, stdout, stderr });
          },
        );
      });
    const refused = await run(["--strategy", "canary", "--no-wait"]);
    expect(refused.status).toBe(2);
    expect(refused.stdout).toContain("The CLI cannot leave a release running after it answers (it exits)");
    expect((await aliasRouting(fn)).weights).toEqual({});

    const waited = await run(["--strategy", "canary", "--bake-minutes", "0.02"]);
    expect(waited.status, waited.stderr).toBe(0);
    const out = JSON.parse(waited.stdout) as { status: string; warnings?: string[]; version: string };
    expect(out.status).toBe("deployed");
    expect(out.warnings?.join(" ")).toContain("this call waits for it");
    expect(await aliasRouting(fn)).toEqual({ version: out.version, weights: {} });
  }, 120_000);
});
