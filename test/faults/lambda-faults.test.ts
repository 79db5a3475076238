import type { LambdaClient } from "@aws-sdk/client-lambda";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { createAliasedFunction, createDeployedFunction, packageOf } from "../deploy/lambda-support.js";
import { createBucket } from "../support/aws-fixtures.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { type FaultRule, type RuleHandle, useFaultProxy } from "../support/fault-proxy.js";
import { createGitRepo } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed } from "../support/runtime.js";
import {
  expectAgrees,
  type FaultEnv,
  faultRuntime,
  type LiveCode,
  outOf,
  type ReleaseTuning,
  readLive,
  readLock,
  readRecord,
  readRecords,
} from "./lambda-fault-support.js";

/**
 * deploy_lambda while AWS misbehaves at one exact request. The product's clients go through
 * the fault proxy; every verdict is read back from moto directly: what serves, the lock
 * object, the release record — then checked against what the tool answered.
 */

const moto = useMoto();
const proxy = useFaultProxy(moto);
const BUCKET = "vyaparai-artifacts-faults";

let healthy: LocalHealthServer;
let unhealthy: LocalHealthServer;
/** Straight to moto: the read-back. */
let lambda: LambdaClient;
let s3: S3Client;

beforeAll(async () => {
  healthy = await startHealthServer();
  unhealthy = await startHealthServer();
  unhealthy.healthy = false;
  const direct = moto.current.clients();
  lambda = await direct.lambda();
  s3 = await direct.s3();
  await createBucket(s3, BUCKET);
});

afterAll(async () => {
  await healthy?.close();
  await unhealthy?.close();
});

interface ScenarioOptions {
  alias?: boolean;
  health?: "healthy" | "unhealthy";
  release?: ReleaseTuning;
  now?: () => Date;
  appRoot?: string;
  protected?: boolean;
}

/**
 * A fresh env (its own name, function, prefix, lock and records) whose function runs the
 * initial code; the app root holds the v1 backend, which is `next`.
 */
async function scenario(t: TestContext, name: string, options: ScenarioOptions = {}) {
  const functionName = `vyaparai-api-${name}`;
  const prefix = `backend/${name}/`;
  const alias = options.alias ? "live" : null;
  let previous: LiveCode;
  if (alias) {
    const v0 = await createAliasedFunction(moto.current, lambda, functionName);
    previous = { version: v0.Version as string, codeSha256: v0.CodeSha256 as string };
  } else {
    const initial = await createDeployedFunction(moto.current, BUCKET, functionName, prefix);
    previous = { version: "$LATEST", codeSha256: initial.codeSha256 };
  }
  const { appRoot } = writeBackendFixture({
    ...(options.appRoot ? { appRoot: options.appRoot } : {}),
    commit: true,
  });
  const env: FaultEnv = {
    envName: name,
    functionName,
    alias,
    bucket: BUCKET,
    prefix,
    healthUrl: (options.health === "unhealthy" ? unhealthy : healthy).url,
    protected: options.protected ?? false,
  };
  const runtime = faultRuntime({
    proxy: proxy.current,
    appRoot,
    env,
    ...(options.release ? { release: options.release } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  // The scenarios run concurrently: each cleans up only its own runtime and rules.
  const rules: RuleHandle[] = [];
  t.onTestFinished(() => {
    for (const rule of rules) rule.remove();
    runtime.close();
  });
  const pkg = await packageOf(appRoot);
  return {
    env,
    appRoot,
    /** Adds a proxy rule that lives until this test ends. */
    fault(rule: FaultRule): RuleHandle {
      const handle = proxy.current.add(rule);
      rules.push(handle);
      return handle;
    },
    /** The REST path of one of this function's Lambda resources, e.g. "code" or "aliases/live". */
    lambdaPath: (resource: string) => `/2015-03-31/functions/${functionName}/${resource}`,
    runtime,
    previous,
    next: pkg.codeSha256,
    deploy: (args: Record<string, unknown> = {}) =>
      invokeTool(deployLambdaTool, { env: name, ...args }, runtime),
    live: () => readLive(lambda, functionName, alias),
    lock: () => readLock(s3, BUCKET, name),
    record: (releaseId: string | undefined) => readRecord(s3, BUCKET, name, releaseId as string),
    records: () => readRecords(s3, BUCKET, name),
    /** UpdateFunctionCode requests on this function that reached the proxy. */
    updateCodeCalls: () =>
      proxy.current.count({
        operation: "UpdateFunctionCode",
        path: `/2015-03-31/functions/${functionName}/code`,
      }),
  };
}

describe.concurrent("deploy_lambda under AWS faults (unprotected env)", () => {
  it("1. the answer to the lock's conditional PutObject is lost: its own lock is recognised, deployed, no lock left", async (t) => {
    const s = await scenario(t, "f1");
    const rule = s.fault({
      match: { service: "s3", operation: "PutObject", bucket: BUCKET, key: "locks/f1.json" },
      action: { kind: "drop-answer" },
      times: 1,
    });
    const result = await s.deploy();
    const out = outOf(result);

    expect(rule.hits).toBe(1);
    // The lock landed (moto answered 200, the client saw a reset); the SDK's retry met it (412).
    const lockPuts = proxy.current.log.filter(
      (r) => r.operation === "PutObject" && r.key === "locks/f1.json",
    );
    expect(lockPuts.slice(0, 2).map((r) => [r.fault, r.status])).toEqual([
      ["drop-answer", 200],
      [null, 412],
    ]);
    const live = await s.live();
    expect(live).toEqual({ version: "$LATEST", codeSha256: s.next });
    expect(out.status).toBe("deployed");
    expectAgrees(result, live, await s.record(out.releaseId));
    expect(await s.lock()).toBeNull();
  }, 60_000);

  it("2a. UpdateFunctionCode throttled (429) twice, then passing: deployed", async (t) => {
    const s = await scenario(t, "f2a");
    const rule = s.fault({
      match: { service: "lambda", operation: "UpdateFunctionCode", path: s.lambdaPath("code") },
      action: { kind: "fail", status: 429, code: "TooManyRequestsException", message: "Rate exceeded" },
      times: 2,
    });
    const result = await s.deploy();
    const out = outOf(result);

    expect(rule.hits).toBe(2);
    expect(s.updateCodeCalls()).toBe(3);
    const live = await s.live();
    expect(live.codeSha256).toBe(s.next);
    expect(out.status).toBe("deployed");
    expectAgrees(result, live, await s.record(out.releaseId));
    expect(await s.lock()).toBeNull();
  }, 60_000);

  it("2b. UpdateFunctionCode throttled persistently ($LATEST): failed, the previous code live and said so", async (t) => {
    const s = await scenario(t, "f2b");
    s.fault({
      match: { service: "lambda", operation: "UpdateFunctionCode", path: s.lambdaPath("code") },
      action: { kind: "fail", status: 429, code: "TooManyRequestsException", message: "Rate exceeded" },
    });
    const result = await s.deploy();
    const out = outOf(result);

    const live = await s.live();
    expect(live).toEqual(s.previous);
    expect(out.status).toBe("failed");
    expect(out.failure).toMatch(/^update-code: /);
    // No claim that the new code may run: the answer's live code is the previous one.
    expect(out.live?.codeSha256).toBe(s.previous.codeSha256);
    expect(out.version).toBeUndefined();
    expect(out.undo).toMatchObject({ ok: true, result: "nothing_to_undo" });
    const record = await s.record(out.releaseId);
    expectAgrees(result, live, record);
    expect(record.after.codeSha256).toBe(s.previous.codeSha256);
    expect(await s.lock()).toBeNull();
  }, 60_000);

  it("3. UpdateFunctionCode answers ResourceConflictException (409) twice: retried, deployed", async (t) => {
    const s = await scenario(t, "f3");
    const rule = s.fault({
      match: { service: "lambda", operation: "UpdateFunctionCode", path: s.lambdaPath("code") },
      action: {
        kind: "fail",
        status: 409,
        code: "ResourceConflictException",
        message: "The operation cannot be performed at this time. An update is in progress",
      },
      times: 2,
    });
    const result = await s.deploy();
    const out = outOf(result);

    expect(rule.hits).toBe(2);
    expect(s.updateCodeCalls()).toBe(3);
    const live = await s.live();
    expect(live.codeSha256).toBe(s.next);
    expect(out.status).toBe("deployed");
    expectAgrees(result, live, await s.record(out.releaseId));
    expect(await s.lock()).toBeNull();
  }, 60_000);

  it("4. health gate fails and UpdateAlias fails for ~0.5 s during the undo: rolled back to the previous version", async (t) => {
    const s = await scenario(t, "f4", {
      alias: true,
      health: "unhealthy",
      release: { undoBudgetSeconds: 5 },
    });
    // The first UpdateAlias is the deploy's move-alias; the undo's come after it.
    const rule = s.fault({
      match: { service: "lambda", operation: "UpdateAlias", path: s.lambdaPath("aliases/live") },
      action: { kind: "fail", status: 409, code: "ResourceConflictException" },
      skip: 1,
      forMs: 500,
    });
    const result = await s.deploy();
    const out = outOf(result);

    expect(rule.hits).toBeGreaterThanOrEqual(1);
    const live = await s.live();
    expect(live).toEqual(s.previous);
    expect(out.status).toBe("rolled_back");
    expect(out.failure).toMatch(/^health-gate: /);
    expect(out.undo).toMatchObject({ ok: true, result: "undone" });
    expect(out.undo?.attempts).toBeGreaterThanOrEqual(2);
    const record = await s.record(out.releaseId);
    expectAgrees(result, live, record);
    expect(record.after.failedVersion).toBe(out.version);
    expect(out.version).not.toBe(s.previous.version);
    expect(await s.lock()).toBeNull();
  }, 60_000);

  it("5. UpdateAlias fails for longer than undoBudgetSeconds: failed, the failed version live and said so; a later call leaves it live", async (t) => {
    const s = await scenario(t, "f5", {
      alias: true,
      health: "unhealthy",
      release: { undoBudgetSeconds: 3 },
    });
    const rule = s.fault({
      match: { service: "lambda", operation: "UpdateAlias", path: s.lambdaPath("aliases/live") },
      action: { kind: "fail", status: 409, code: "ResourceConflictException" },
      skip: 1,
    });
    const started = performance.now();
    const result = await s.deploy();
    const elapsedMs = performance.now() - started;
    const out = outOf(result);

    expect(rule.hits).toBeGreaterThanOrEqual(2);
    const live = await s.live();
    // The undo gave up: the version that failed its gate serves, and the answer says so.
    expect(out.status).toBe("failed");
    expect(out.version).toBeDefined();
    expect(live).toEqual({ version: out.version, codeSha256: s.next });
    expect(out.undo?.ok).toBe(false);
    expect(out.undo?.fixCommand).toContain("aws lambda update-alias");
    expect(out.undo?.fixCommand).toContain(`--function-version ${s.previous.version}`);
    const record = await s.record(out.releaseId);
    expectAgrees(result, live, record);
    expect(record.after.failedVersion).toBe(out.version);
    expect(record.error).toMatch(/undo failed/);
    expect(await s.lock()).toBeNull();
    // The budget bounds the call: gate (~2 s) + undo budget (3 s) + slack, not minutes.
    expect(elapsedMs).toBeLessThan(20_000);

    // With the fault gone, the next deploy_lambda of the same tree must not call the failed
    // code "unchanged": it says the live code never passed its gate and changes nothing.
    rule.remove();
    const again = await s.deploy();
    const againOut = outOf(again);
    expect(again.isError, again.text).toBe(true);
    expect(againOut.status).toBe("failed");
    expect(againOut.failure).toContain(out.releaseId);
    expect(againOut.recovered ?? []).toEqual([]);
    expect(await s.live()).toEqual({ version: out.version, codeSha256: s.next });
    const records = await s.records();
    expect(records.map((r) => [r.releaseId, r.status])).toEqual([[out.releaseId, "failed"]]);
    expect(await s.lock()).toBeNull();
  }, 60_000);

  it("6. the final record write fails: deployed with a warning naming the record; the next call settles it as recovered", async (t) => {
    const s = await scenario(t, "f6");
    // Only the final write (the journal's in_progress writes have finishedAt null) fails.
    const rule = s.fault({
      match: {
        service: "s3",
        operation: "PutObject",
        bucket: BUCKET,
        key: /^releases\/f6\/lambda\//,
        bodyIncludes: '"finishedAt": "',
      },
      action: { kind: "fail", status: 500, code: "InternalError" },
    });
    const result = await s.deploy();
    const out = outOf(result);

    expect(rule.hits).toBeGreaterThanOrEqual(1);
    const live = await s.live();
    expect(live.codeSha256).toBe(s.next);
    expect(out.status).toBe("deployed");
    expectAgrees(result, live, null);
    const recordKey = `releases/f6/lambda/${out.releaseId}.json`;
    expect(out.warnings?.some((w) => w.includes(recordKey))).toBe(true);
    // The record moto holds is the last journal write: still in progress, in switching (the
    // gate's phase is recorded late, with the final write).
    const stuck = await s.record(out.releaseId);
    expect(stuck).toMatchObject({ status: "in_progress", phase: "switching", finishedAt: null });
    expect(await s.lock()).toBeNull();

    rule.remove();
    const again = await s.deploy();
    const againOut = outOf(again);
    expect(again.isError, again.text).toBe(false);
    // Same tree, already live: the only work left is settling the interrupted record.
    expect(againOut.status).toBe("unchanged");
    expect(againOut.recovered).toEqual([
      expect.objectContaining({ releaseId: out.releaseId, outcome: "kept", phase: "switching" }),
    ]);
    const settled = await s.record(out.releaseId);
    expect(settled.status).toBe("recovered");
    expect(settled.finishedAt).not.toBeNull();
    expect(settled.recovery).toMatchObject({ outcome: "kept", by: againOut.releaseId });
    expect(settled.after.codeSha256).toBe(s.next);
    expect(await s.live()).toEqual(live);
    expect(againOut.live).toEqual(live);
    expect(await s.lock()).toBeNull();
  }, 90_000);

  it("7. the lock release fails: deployed with a lock warning; the lock expires within lockTtlSeconds and the next deploy takes it over", async (t) => {
    let offsetMs = 0;
    const now = () => new Date(Date.now() + offsetMs);
    const s = await scenario(t, "f7", { release: { lockTtlSeconds: 5 }, now });
    const rule = s.fault({
      match: { service: "s3", operation: "DeleteObject", bucket: BUCKET, key: "locks/f7.json" },
      action: { kind: "fail", status: 500, code: "InternalError" },
    });
    const calledAt = Date.now();
    const result = await s.deploy();
    const returnedAt = Date.now();
    const out = outOf(result);

    expect(rule.hits).toBeGreaterThanOrEqual(1);
    const live = await s.live();
    expect(live.codeSha256).toBe(s.next);
    expect(out.status).toBe("deployed");
    expectAgrees(result, live, await s.record(out.releaseId));
    expect(out.warnings?.some((w) => w.includes("locks/f7.json") && /could not be released/.test(w))).toBe(
      true,
    );
    const left = await s.lock();
    expect(left).toMatchObject({ releaseId: out.releaseId, ttlSeconds: 5 });
    const expiresAt = Date.parse(left?.expiresAt as string);
    expect(expiresAt).toBeGreaterThan(calledAt);
    expect(expiresAt).toBeLessThanOrEqual(returnedAt + 5_000);

    // Past its expiry on the runtime's clock (no wall-clock wait), a new deploy takes it over.
    rule.remove();
    offsetMs = Math.max(0, expiresAt + 1_000 - Date.now());
    writeBackendFixture({ appRoot: s.appRoot, variant: "v3", commit: true });
    const v3 = await packageOf(s.appRoot);
    const again = await s.deploy();
    const againOut = outOf(again);
    const liveAfter = await s.live();
    expect(liveAfter.codeSha256).toBe(v3.codeSha256);
    expect(againOut.status).toBe("deployed");
    expect(againOut.replacedLock).toMatchObject({
      how: "taken_over",
      state: "expired",
      releaseId: out.releaseId,
    });
    expectAgrees(again, liveAfter, await s.record(againOut.releaseId));
    expect(await s.lock()).toBeNull();
  }, 90_000);

  // Regression: release.requestTimeoutSeconds must end an unanswered request (the client's
  // socketTimeout; requestTimeout alone only logs a warning in @smithy/node-http-handler 4.x),
  // so the SDK retries it instead of holding the deploy and its lock until the step deadline.
  it("8. an S3 request that is never answered (artifact PutObject) with requestTimeoutSeconds 1: the deploy does not hang", async (t) => {
    const s = await scenario(t, "f8", { release: { requestTimeoutSeconds: 1 } });
    const artifactPut = {
      service: "s3",
      operation: "PutObject",
      bucket: BUCKET,
      key: /^backend\/f8\/.*\.zip$/,
    };
    const held = s.fault({ match: artifactPut, action: { kind: "hang" }, times: 1 });
    // Lets the next attempt through untouched; its arrival is the moment the SDK gave up waiting.
    const retried = s.fault({ match: artifactPut, action: { kind: "delay", ms: 0 }, times: 1 });
    // requestTimeoutSeconds (1 s) plus the SDK's backoff before its retry, with room for a loaded machine.
    const ABANDON_BOUND_MS = 6_000;
    const deploying = s.deploy();
    await Promise.race([held.waitForHit(), deploying]);
    expect(held.hits).toBe(1);
    let bound: NodeJS.Timeout | undefined;
    const abandoned = await Promise.race([
      retried.waitForHit().then(() => true),
      new Promise<boolean>((resolve) => {
        bound = setTimeout(() => resolve(false), ABANDON_BOUND_MS);
      }),
    ]);
    clearTimeout(bound);
    if (!abandoned) {
      // Still waiting on the held request: the env's lock is held (and kept live) meanwhile.
      const lock = await s.lock();
      expect(lock).not.toBeNull();
      expect(Date.parse(lock?.expiresAt as string)).toBeGreaterThan(Date.now());
      // Answer it, so the call ends and the state it leaves can be judged.
      held.release();
    }
    const result = await deploying;
    const out = outOf(result);

    const live = await s.live();
    expect(["deployed", "failed"]).toContain(out.status);
    if (out.status === "deployed") expect(live.codeSha256).toBe(s.next);
    else expect(live).toEqual(s.previous);
    expectAgrees(result, live, await s.record(out.releaseId));
    expect(await s.lock()).toBeNull();
    expect(
      abandoned,
      `the unanswered PutObject was not abandoned and retried within ${ABANDON_BOUND_MS} ms (requestTimeoutSeconds 1)`,
    ).toBe(true);
  }, 60_000);
});

describe.concurrent("deploy_lambda under AWS faults (protected env)", () => {
  it("9. lost answers to the token spend and the lock create: the confirmed call deploys once, no lock left", async (t) => {
    const repo = createGitRepo();
    const s = await scenario(t, "f9", { protected: true, appRoot: repo.dir });
    const head = repo.commitAll("backend");
    await markPreflightPassed(s.runtime, head, ["backend"], "f9");

    const asked = outOf(await s.deploy());
    expect(asked.status).toBe("confirmation_required");
    const token = (asked as unknown as { confirmationToken: string }).confirmationToken;
    expect(await s.live()).toEqual(s.previous);

    const tokenRule = s.fault({
      match: { service: "s3", operation: "PutObject", bucket: BUCKET, key: /^tokens\/f9\// },
      action: { kind: "drop-answer" },
      times: 1,
    });
    const lockRule = s.fault({
      match: { service: "s3", operation: "PutObject", bucket: BUCKET, key: "locks/f9.json" },
      action: { kind: "drop-answer" },
      times: 1,
    });
    const result = await s.deploy({ confirmationToken: token });
    const out = outOf(result);

    expect([tokenRule.hits, lockRule.hits]).toEqual([1, 1]);
    const live = await s.live();
    expect(live.codeSha256).toBe(s.next);
    expect(out.status).toBe("deployed");
    const record = await s.record(out.releaseId);
    expectAgrees(result, live, record);
    expect((record as unknown as { gitSha: string }).gitSha).toBe(head);
    expect(await s.lock()).toBeNull();
    // The token was spent: its object is there (the SDK's retry met it with 412 and read it as ours).
    const tokenKey = proxy.current.log.find(
      (r) => r.fault === "drop-answer" && r.key?.startsWith("tokens/f9/"),
    )?.key as string;
    const spent = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: tokenKey }));
    expect(JSON.parse((await spent.Body?.transformToString()) as string)).toMatchObject({
      tool: "deploy_lambda",
    });
  }, 60_000);
});
