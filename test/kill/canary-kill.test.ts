import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetAliasCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import { writeSampleApp } from "../../src/demo/sample-app.js";
import { createBucket } from "../../src/emulator/seed.js";
import { createAliasedFunction } from "../deploy/lambda-support.js";
import { useMoto } from "../support/moto.js";
import {
  ARTIFACT_BUCKET,
  callAndKill,
  envConfigFor,
  LOCK_TTL_SECONDS,
  readLock,
  readRecord,
  readRecords,
  type Server,
  type Structured,
  startServer,
  waitForLockExpiry,
} from "./kill-support.js";

/**
 * A canary killed mid-bake: the built stdio server (dist/main.js) runs deploy_lambda with
 * strategy canary and is SIGKILLed on the progress line of the bake's second check — the
 * alias then sends 10% of its traffic to the new version and the record says `baking` with
 * the figures of two checks. A NEW server reports it (running while the dead lock lives,
 * then interrupted), and its next guarded call settles it without breakLock: the share is
 * removed (a bake cut short is never promoted), the record ends `recovered` with the
 * evidence kept, and only then does the new call's own canary run. Every claim is read back
 * from moto.
 */
const moto = useMoto();
let s3: S3Client;
let lambda: LambdaClient;
let health: LocalHealthServer;
const roots: string[] = [];

beforeAll(async () => {
  const clients = moto.current.clients();
  s3 = await clients.s3();
  lambda = await clients.lambda();
  await createBucket(s3, ARTIFACT_BUCKET);
  health = await startHealthServer();
}, 60_000);

afterAll(async () => {
  await health?.close();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

async function routing(fn: string) {
  const alias = await lambda.send(new GetAliasCommand({ FunctionName: fn, Name: "live" }));
  return { version: alias.FunctionVersion, weights: alias.RoutingConfig?.AdditionalVersionWeights ?? {} };
}

function ok(result: { isError: boolean; s: Structured; text: string }, what: string): Structured {
  if (result.isError) throw new Error(`${what} failed: ${result.text}`);
  return result.s;
}

describe("a canary killed mid-bake", () => {
  it("is recovered by the next server: the share removed, the record recovered with its evidence", async () => {
    const env = "kc-1";
    const fn = "kill-canary-fn-1";
    const stable = (await createAliasedFunction(moto.current, lambda, fn)).Version as string;
    await createBucket(s3, "kill-canary-unused-1");
    const root = mkdtempSync(join(tmpdir(), "vyaparai-kill-canary-"));
    roots.push(root);
    writeSampleApp({
      root,
      config: {
        environments: {
          [env]: envConfigFor({
            functionName: fn,
            alias: "live",
            siteBucket: "kill-canary-unused-1",
            healthUrl: health.url,
            prefix: `backend/${env}/`,
          }),
        },
        backend: { testCommand: "echo '1 passed in 0.01s'" },
        frontend: { buildCommand: null, testCommand: null },
        // Nothing invokes the function here: judge on health alone (minInvocations 0).
        release: {
          lockTtlSeconds: LOCK_TTL_SECONDS,
          undoBudgetSeconds: 30,
          canary: { checkIntervalSeconds: 0.5, minInvocations: 0 },
        },
      },
    });
    const servers: Server[] = [];
    try {
      // 1. The release that dies, on the progress line of its second check.
      const first = await startServer(root, moto.current.endpoint);
      servers.push(first);
      const { progress } = await callAndKill(
        first,
        "deploy_lambda",
        { env, strategy: "canary", canaryPercent: 10, bakeMinutes: 1 },
        { progress: /^Canary check 2:/ },
      );
      expect(progress.some((m) => /^Routing 10% of alias live to version \d+ /.test(m))).toBe(true);

      // 2. What it left: the share on the alias, its record in_progress in phase baking with
      //    the figures of two checks, its lock.
      const [killed] = await readRecords(s3, env, "lambda");
      if (!killed) throw new Error("the killed release left no record");
      const canaryVersion = (killed.recoveryFacts as { next: { version: string } }).next.version;
      expect(killed).toMatchObject({
        status: "in_progress",
        phase: "baking",
        recoveryFacts: {
          alias: "live",
          previous: { version: stable },
          canary: { percent: 10, bakeMinutes: 1 },
        },
        evidence: {
          kind: "lambda-canary",
          canaryVersion,
          stableVersion: stable,
          verdict: "baking",
          checks: 2,
        },
      });
      expect(killed.recoveryPlan).toContain("removes that share");
      expect(await routing(fn)).toEqual({ version: stable, weights: { [canaryVersion]: 0.1 } });
      expect((await readLock(s3, env))?.releaseId).toBe(killed.releaseId);

      // 3. A new process: running while the dead lock lives, then interrupted in phase baking.
      const second = await startServer(root, moto.current.endpoint);
      servers.push(second);
      const early = ok(
        await second.call("deploy_status", { env, releaseId: killed.releaseId }),
        "deploy_status",
      );
      const earlyLock = early.lock as { state: string } | null;
      if (earlyLock?.state === "live") {
        expect(early.release).toMatchObject({ state: "running", phase: "baking", outcome: null });
      }
      await waitForLockExpiry(s3, env);
      const status = ok(
        await second.call("deploy_status", { env, releaseId: killed.releaseId }),
        "deploy_status",
      );
      expect(status.release).toMatchObject({
        releaseId: killed.releaseId,
        state: "interrupted",
        status: "in_progress",
        phase: "baking",
        outcome: null,
        canary: { canaryVersion, checks: 2, verdict: "baking" },
      });
      expect(status.interrupted).toEqual([
        expect.objectContaining({
          releaseId: killed.releaseId,
          phase: "baking",
          recoveryPlan: killed.recoveryPlan,
        }),
      ]);
      expect((status.lambda as Structured).verdict).toBe("interrupted");
      expect(String(status.summary)).toContain(
        `Release ${killed.releaseId} (lambda, deploy_lambda): interrupted in phase baking`,
      );

      // 4. The next guarded call settles it first (no breakLock), then runs its own canary.
      const settling = await second.call("deploy_lambda", {
        env,
        strategy: "canary",
        canaryPercent: 10,
        bakeMinutes: 0.02,
      });
      const out = ok(settling, "deploy_lambda");
      expect(out.recovered).toEqual([
        expect.objectContaining({ releaseId: killed.releaseId, outcome: "restored", phase: "baking" }),
      ]);
      expect(out.replacedLock).toMatchObject({
        how: "taken_over",
        state: "expired",
        releaseId: killed.releaseId,
      });
      const recovered = await readRecord(s3, env, "lambda", killed.releaseId);
      expect(recovered).toMatchObject({
        status: "recovered",
        phase: "baking",
        recovery: { outcome: "restored", by: out.releaseId },
        after: { version: stable },
        // The figures gathered before the kill stay in the record.
        evidence: { canaryVersion, checks: 2, verdict: "baking" },
      });
      expect(recovered.recovery?.note).toContain("a bake cut short is never promoted");
      // The settling call planned against what recovery left (the stable version alone) and
      // its own canary, judged on health alone here, was promoted.
      expect(out.status).toBe("deployed");
      expect(out.plan).toMatchObject({ fromVersion: stable, canary: { percent: 10 } });
      expect(out.canary).toMatchObject({ verdict: "passed", stableVersion: stable });
      const live = await routing(fn);
      expect(live).toEqual({ version: out.version, weights: {} });

      // 5. Nothing open, nothing unexplained.
      const after = ok(await second.call("deploy_status", { env }), "deploy_status");
      expect(after.interrupted).toEqual([]);
      expect(after.lock).toBeNull();
      expect(after.drift).toEqual([]);
      expect((after.lambda as Structured).verdict).toBe("matches");
      expect((after.lambda as Structured).weights).toBeUndefined();
    } finally {
      for (const server of servers) await server.close();
    }
  }, 150_000);
});
