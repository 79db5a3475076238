import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CreateAliasCommand, type LambdaClient, PublishVersionCommand } from "@aws-sdk/client-lambda";
import { DeleteObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import {
  createBucket,
  createFunction,
  createLambdaRole,
  putLiveArtifact,
  zipOf,
} from "../../src/emulator/seed.js";
import type { Phase, ReleaseRecord } from "../../src/release/types.js";
import { type DistFixture, writeViteDist } from "../support/dist-fixture.js";
import { type FaultRule, type RuleHandle, useFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";
import {
  ARTIFACT_BUCKET,
  type CallResult,
  callAndKill,
  ENTRY_POINTS,
  envConfigFor,
  exists,
  type KillRow,
  LOCK_TTL_SECONDS,
  latestCode,
  liveCode,
  makeApp,
  printKillTable,
  readBytes,
  readLock,
  readRecord,
  readRecords,
  readSite,
  removeApps,
  type Server,
  type Structured,
  sha256Hex,
  startServer,
  waitForLockExpiry,
} from "./kill-support.js";

/**
 * Kill recovery end to end: the built stdio server (dist/main.js) is SIGKILLed at an exact point
 * of a deploy_lambda / deploy_frontend release — while the fault proxy holds a chosen request,
 * or (health gate) on the progress notification naming the step, which the journal wrote as a
 * phase before announcing it. A NEW server process then reports the release as interrupted
 * (deploy_status, preflight) and its next guarded call settles it without breakLock once the
 * dead lock's TTL ran out (release.lockTtlSeconds: 10, see LOCK_TTL_SECONDS). Every claim is checked by reading moto
 * directly: the record, the lock, live code, the live entry points and what they reference.
 * The file prints the kill table at the end; KILL_DEBUG=1 adds timings of the frontend cases.
 */
const moto = useMoto();
const proxy = useFaultProxy(moto);
const rows: KillRow[] = [];
/**
 * Timing. The settling call must start as soon as the dead lock's TTL ran out: kill → call is
 * the TTL plus the test's own new server, deploy_status and preflight (START_MARGIN_MS). The
 * call itself waits for no lock (replacedLock says it took the expired one over); how long its
 * work takes depends on the machine, so it only gets a generous budget (other test files may
 * keep both cores busy).
 */
const START_MARGIN_MS = 15_000;
const LAMBDA_CALL_BUDGET_MS = 60_000;
// F1's settling call uploads the ~400 files the killed release did not get to.
const FRONTEND_CALL_BUDGET_MS = 90_000;

let s3: S3Client;
let lambda: LambdaClient;
let role: string;
let counter = 0;

beforeAll(async () => {
  const clients = moto.current.clients();
  s3 = await clients.s3();
  lambda = await clients.lambda();
  await createBucket(s3, ARTIFACT_BUCKET);
  role = await createLambdaRole(moto.current.endpoint, `vyaparai-kill-role-${process.pid}`);
}, 60_000);

afterAll(() => {
  printKillTable(rows);
  removeApps();
});

const recordPut = (env: string, component: string, phase: Phase): FaultRule["match"] => ({
  service: "s3",
  operation: "PutObject",
  bucket: ARTIFACT_BUCKET,
  key: new RegExp(`^releases/${env}/${component}/`),
  bodyIncludes: `"phase": "${phase}"`,
});

const lambdaCall = (fn: string, operation: string): FaultRule["match"] => ({
  service: "lambda",
  operation,
  path: new RegExp(`/functions/${fn}/`),
});

async function waitFor(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function ok(result: CallResult, what: string): Structured {
  if (result.isError) throw new Error(`${what} failed: ${result.text}`);
  return result.s;
}

interface Interrupted {
  releaseId: string;
  component: string;
  tool: string;
  phase: string | null;
  why: string;
  recoveryPlan: string | null;
}

interface Recovered {
  releaseId: string;
  outcome: string;
  phase: string | null;
  note: string;
}

/**
 * After the kill, from a NEW server: while the dead release's lock is still live, deploy_status
 * calls it in progress (not interrupted); once it expired, interrupted with its phase.
 */
async function statusAfterKill(
  server: Server,
  env: string,
  component: "lambda" | "frontend",
  killed: ReleaseRecord,
  /** The release whose lock is left: the killed one, or the call killed while recovering it. */
  lockOwner: string,
  isProtected = false,
): Promise<{ interrupted: Interrupted; reported: string }> {
  const lock = await readLock(s3, env);
  expect(lock?.releaseId).toBe(lockOwner);
  const said: string[] = [];
  if (lock && Date.parse(lock.expiresAt) - Date.now() > 1500) {
    const early = ok(await server.call("deploy_status", { env }), "deploy_status");
    const earlyLock = early.lock as { state: string; releaseId: string };
    expect(earlyLock.releaseId).toBe(lockOwner);
    const verdict = (early[component] as Structured).verdict;
    // Judged on the lock as deploy_status itself read it (on a busy machine it may have expired).
    if (earlyLock.state === "live" && lockOwner === killed.releaseId) {
      // Its own lock is still live: it might be running, so it is not called interrupted yet.
      expect(verdict).toBe("in_progress");
      expect(early.interrupted).toEqual([]);
    }
    // A live lock of the (dead) call that was recovering it does not name it: by the
    // definition in interrupted.ts it is interrupted already.
    said.push(`${String(verdict)} while the lock was ${earlyLock.state}`);
  }
  await waitForLockExpiry(s3, env);
  const status = ok(await server.call("deploy_status", { env }), "deploy_status");
  const interrupted = status.interrupted as Interrupted[];
  expect(interrupted).toHaveLength(1);
  const found = interrupted[0] as Interrupted;
  expect(found).toMatchObject({ releaseId: killed.releaseId, component, phase: killed.phase });
  expect(found.recoveryPlan).toBe(killed.recoveryPlan);
  expect((status[component] as Structured).verdict).toBe("interrupted");
  expect((status[component] as Structured).openReleaseId).toBe(killed.releaseId);
  expect(status.lock).toMatchObject({ state: "expired", releaseId: lockOwner });
  said.push(`deploy_status: interrupted, phase ${found.phase}, lock expired`);
  // preflight warns about it too, with the same phase (tests skipped where the env allows it).
  const preflight = ok(
    await server.call("preflight", {
      env,
      components: [component === "lambda" ? "backend" : "frontend"],
      skipTests: !isProtected,
    }),
    "preflight",
  );
  const check = (preflight.checks as Array<{ name: string; status: string; detail: string }>).find(
    (c) => c.name === "interrupted",
  );
  expect(check?.status).toBe("warn");
  expect(check?.detail).toContain(
    `Release ${killed.releaseId} (${component}) stopped in phase ${killed.phase}`,
  );
  said.push("preflight: warn");
  return { interrupted: found, reported: said.join("; ") };
}

/** After the settling call, deploy_status finds nothing open and nothing unexplained. */
async function expectSettledStatus(server: Server, env: string, component: "lambda" | "frontend") {
  const status = ok(await server.call("deploy_status", { env }), "deploy_status");
  expect(status.interrupted).toEqual([]);
  expect(status.lock).toBeNull();
  expect(status.drift).toEqual([]);
  expect((status[component] as Structured).verdict).toBe("matches");
}

/** The settling call's own answer: it took the dead lock over and recovered exactly that release. */
function expectSettled(
  out: Structured,
  killed: ReleaseRecord,
  outcome: string,
  lockOwner: string,
): Recovered {
  const recovered = out.recovered as Recovered[];
  expect(recovered).toHaveLength(1);
  expect(recovered[0]).toMatchObject({ releaseId: killed.releaseId, outcome, phase: killed.phase });
  expect(out.replacedLock).toMatchObject({
    how: "taken_over",
    state: "expired",
    releaseId: lockOwner,
  });
  return recovered[0] as Recovered;
}

async function expectRecordRecovered(
  env: string,
  component: string,
  killed: ReleaseRecord,
  outcome: string,
  by: string,
): Promise<ReleaseRecord> {
  const record = await readRecord(s3, env, component, killed.releaseId);
  expect(record.status).toBe("recovered");
  expect(record.phase).toBe(killed.phase);
  expect(record.finishedAt).not.toBeNull();
  expect(record.recovery).toMatchObject({ outcome, by });
  return record;
}

// ---- Lambda ------------------------------------------------------------------------------

type Trigger = { rule: FaultRule } | { progress: RegExp };

interface LambdaCase {
  name: string;
  killPoint: string;
  alias: boolean;
  /** Health answers 503 for the whole case: the new code never passes its gate. */
  unhealthy?: boolean;
  trigger: (fn: string, env: string) => Trigger;
  /** After the kill, before the new server: e.g. let the held request land after all. */
  afterKill?: (ctx: { fn: string; rule: RuleHandle | null; nextCodeSha256: string }) => Promise<void>;
  phase: Phase;
  /** What serves right after the kill (read back), before any recovery. */
  liveAtKill: "previous" | "next";
  outcome: "kept" | "restored" | "nothing_changed";
  /** deploy_lambda's status on the settling call. */
  settleStatus: "deployed" | "unchanged" | "rolled_back";
  /** The process that recovers it is killed too, at this request; a third one settles it. */
  secondKill?: { killPoint: string; trigger: (fn: string, env: string) => FaultRule };
}

const LAMBDA_CASES: LambdaCase[] = [
  {
    name: "L1 $LATEST",
    killPoint: "after upload-artifact (record write for switching held)",
    alias: false,
    trigger: (_fn, env) => ({
      rule: { match: recordPut(env, "lambda", "switching"), action: { kind: "hang" } },
    }),
    phase: "uploading",
    liveAtKill: "previous",
    outcome: "nothing_changed",
    settleStatus: "deployed",
  },
  {
    name: "L2 $LATEST",
    killPoint: "during update-code (UpdateFunctionCode held, never lands)",
    alias: false,
    trigger: (fn) => ({ rule: { match: lambdaCall(fn, "UpdateFunctionCode"), action: { kind: "hang" } } }),
    phase: "switching",
    liveAtKill: "previous",
    outcome: "nothing_changed",
    settleStatus: "deployed",
  },
  {
    name: "L3 $LATEST",
    killPoint: "after update-code (PublishVersion held), healthy",
    alias: false,
    trigger: (fn) => ({ rule: { match: lambdaCall(fn, "PublishVersion"), action: { kind: "hang" } } }),
    phase: "switching",
    liveAtKill: "next",
    outcome: "kept",
    settleStatus: "unchanged",
  },
  {
    name: "L4 $LATEST unhealthy",
    killPoint: "after update-code (PublishVersion held), health 503",
    alias: false,
    unhealthy: true,
    trigger: (fn) => ({ rule: { match: lambdaCall(fn, "PublishVersion"), action: { kind: "hang" } } }),
    phase: "switching",
    liveAtKill: "next",
    outcome: "restored",
    // Recovery put the previous code back; the same package is planned again, fails the same
    // gate and is rolled back by the settling call itself.
    settleStatus: "rolled_back",
  },
  {
    name: "L5 $LATEST",
    killPoint: "after publish-version (the health gate's first read, GetFunctionConfiguration, held)",
    alias: false,
    trigger: (fn) => ({
      rule: { match: lambdaCall(fn, "GetFunctionConfiguration"), action: { kind: "hang" } },
    }),
    // The gate's phase (verifying) is recorded late (phasesRecordedLate): the record still
    // says switching, and recovery reads what the function runs either way.
    phase: "switching",
    liveAtKill: "next",
    outcome: "kept",
    settleStatus: "unchanged",
  },
  {
    name: "L6 $LATEST",
    killPoint: "during health-gate (progress 'Step 4/4: health-gate')",
    alias: false,
    trigger: () => ({ progress: /: health-gate$/ }),
    phase: "switching",
    liveAtKill: "next",
    outcome: "kept",
    settleStatus: "unchanged",
  },
  {
    name: "L7 $LATEST unhealthy, killed twice",
    killPoint:
      "after update-code (PublishVersion held), health 503; then the recovering call killed during its restore (UpdateFunctionCode of the previous artifact held)",
    alias: false,
    unhealthy: true,
    trigger: (fn) => ({ rule: { match: lambdaCall(fn, "PublishVersion"), action: { kind: "hang" } } }),
    secondKill: {
      killPoint: "restore UpdateFunctionCode held",
      trigger: (fn) => ({ match: lambdaCall(fn, "UpdateFunctionCode"), action: { kind: "hang" } }),
    },
    phase: "switching",
    liveAtKill: "next",
    outcome: "restored",
    settleStatus: "rolled_back",
  },
  {
    name: "L8 $LATEST unhealthy",
    killPoint: "during the release's own undo (its restore UpdateFunctionCode held), health 503",
    alias: false,
    unhealthy: true,
    trigger: (fn) => ({
      rule: { match: lambdaCall(fn, "UpdateFunctionCode"), action: { kind: "hang" }, skip: 1 },
    }),
    phase: "undoing",
    liveAtKill: "next",
    outcome: "restored",
    settleStatus: "rolled_back",
  },
  {
    name: "A1 alias",
    killPoint: "after upload-artifact (record write for switching held)",
    alias: true,
    trigger: (_fn, env) => ({
      rule: { match: recordPut(env, "lambda", "switching"), action: { kind: "hang" } },
    }),
    phase: "uploading",
    liveAtKill: "previous",
    outcome: "nothing_changed",
    settleStatus: "deployed",
  },
  {
    name: "A2 alias",
    killPoint: "during update-code (UpdateFunctionCode held, lands after the kill)",
    alias: true,
    trigger: (fn) => ({ rule: { match: lambdaCall(fn, "UpdateFunctionCode"), action: { kind: "hang" } } }),
    async afterKill({ fn, rule, nextCodeSha256 }) {
      // AWS got the request before the process died: $LATEST changes, the alias does not.
      rule?.release();
      await waitFor(
        "$LATEST to hold the new code",
        async () => (await latestCode(lambda, fn)) === nextCodeSha256,
      );
    },
    phase: "switching",
    liveAtKill: "previous",
    outcome: "nothing_changed",
    settleStatus: "deployed",
  },
  {
    name: "A3 alias",
    killPoint: "after publish-version, during move-alias (UpdateAlias held, never lands)",
    alias: true,
    trigger: (fn) => ({ rule: { match: lambdaCall(fn, "UpdateAlias"), action: { kind: "hang" } } }),
    phase: "switching",
    liveAtKill: "previous",
    outcome: "nothing_changed",
    settleStatus: "deployed",
  },
  {
    name: "A4 alias",
    killPoint: "after move-alias (the health gate's first read, GetFunctionConfiguration, held)",
    alias: true,
    trigger: (fn) => ({
      rule: { match: lambdaCall(fn, "GetFunctionConfiguration"), action: { kind: "hang" } },
    }),
    phase: "switching",
    liveAtKill: "next",
    outcome: "kept",
    settleStatus: "unchanged",
  },
  {
    name: "A6 alias unhealthy",
    killPoint: "during the release's own undo (UpdateAlias back held), health 503",
    alias: true,
    unhealthy: true,
    trigger: (fn) => ({ rule: { match: lambdaCall(fn, "UpdateAlias"), action: { kind: "hang" }, skip: 1 } }),
    phase: "undoing",
    liveAtKill: "next",
    outcome: "restored",
    settleStatus: "rolled_back",
  },
  {
    name: "A5 alias",
    killPoint: "during health-gate (progress 'Step 5/5: health-gate')",
    alias: true,
    trigger: () => ({ progress: /: health-gate$/ }),
    phase: "switching",
    liveAtKill: "next",
    outcome: "kept",
    settleStatus: "unchanged",
  },
];

async function seedFunction(fn: string, prefix: string, alias: boolean) {
  // Each function starts from its own code, so no case can pass on another's artifact.
  const zip = await zipOf({ "lambda_handler.py": `# ${fn}\ndef handler(e, c):\n    return 1\n` });
  const created = await createFunction(lambda, { name: fn, role, code: { ZipFile: zip } });
  // The previous code's artifact where a first release would have left it: the way back.
  await putLiveArtifact(s3, { bucket: ARTIFACT_BUCKET, prefix }, zip);
  let version = "$LATEST";
  if (alias) {
    const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: fn }));
    version = v1.Version as string;
    await lambda.send(new CreateAliasCommand({ FunctionName: fn, Name: "live", FunctionVersion: version }));
  }
  return { codeSha256: created.codeSha256, version };
}

async function runLambdaCase(c: LambdaCase): Promise<void> {
  const n = ++counter;
  const env = `kl-${n}`;
  const fn = `kill-fn-${n}`;
  const alias = c.alias ? "live" : null;
  const prefix = `backend/${env}/`;
  const health: LocalHealthServer = await startHealthServer();
  health.healthy = !c.unhealthy;
  const previous = await seedFunction(fn, prefix, c.alias);
  // The env's (empty) site bucket, so deploy_status has nothing to say about the frontend.
  await createBucket(s3, `kill-unused-${n}`);
  const app = makeApp(
    env,
    envConfigFor({ functionName: fn, alias, siteBucket: `kill-unused-${n}`, healthUrl: health.url, prefix }),
  );
  const servers: Server[] = [];
  let handle: RuleHandle | null = null;
  try {
    // 1. The release that dies.
    const first = await startServer(app, proxy.current.endpoint);
    servers.push(first);
    const trigger = c.trigger(fn, env);
    handle = "rule" in trigger ? proxy.current.add({ ...trigger.rule, times: 1 }) : null;
    const { killedAt } = await callAndKill(
      first,
      "deploy_lambda",
      { env },
      handle ? { rule: handle } : (trigger as { progress: RegExp }),
    );
    const [killed] = await readRecords(s3, env, "lambda");
    if (!killed) throw new Error("the killed release left no record");
    const nextCodeSha256 = killed.artifacts.codeSha256 as string;
    expect(nextCodeSha256).not.toBe(previous.codeSha256);
    await c.afterKill?.({ fn, rule: handle, nextCodeSha256 });

    // 2. What the dead release left: its record in_progress at the phase, its lock, live code.
    expect(killed.status).toBe("in_progress");
    expect(killed.phase).toBe(c.phase);
    expect(killed.recoveryFacts).toMatchObject({
      functionName: fn,
      alias,
      previous: { codeSha256: previous.codeSha256, version: previous.version },
      next: { codeSha256: nextCodeSha256 },
    });
    // Every kill point here is after the upload: the artifact is in place.
    expect(await exists(s3, ARTIFACT_BUCKET, killed.artifacts.artifactKey as string)).toBe(true);
    const atKill = await liveCode(lambda, fn, alias);
    const expectedAtKill = c.liveAtKill === "next" ? nextCodeSha256 : previous.codeSha256;
    expect(atKill.codeSha256).toBe(expectedAtKill);
    if (c.alias && c.liveAtKill === "previous") expect(atKill.version).toBe(previous.version);

    let lockOwner = killed.releaseId;
    let lastKillAt = killedAt;
    if (c.secondKill) {
      // 2b. The next call starts recovering it and dies too: it has no record of its own yet,
      // only the lock; the first release's record stays in_progress.
      await waitForLockExpiry(s3, env);
      const recovering = await startServer(app, proxy.current.endpoint);
      servers.push(recovering);
      const again = proxy.current.add({ ...c.secondKill.trigger(fn, env), times: 1 });
      try {
        const { progress, killedAt: at } = await callAndKill(
          recovering,
          "deploy_lambda",
          { env },
          { rule: again },
        );
        lastKillAt = at;
        expect(progress.some((m) => m.startsWith(`Recovering interrupted release ${killed.releaseId}`))).toBe(
          true,
        );
      } finally {
        again.remove();
      }
      const lock = await readLock(s3, env);
      expect(lock?.releaseId).toBeDefined();
      expect(lock?.releaseId).not.toBe(killed.releaseId);
      lockOwner = lock?.releaseId as string;
      const records = await readRecords(s3, env, "lambda");
      expect(records.map((r) => [r.releaseId, r.status])).toEqual([[killed.releaseId, "in_progress"]]);
      expect((await liveCode(lambda, fn, alias)).codeSha256).toBe(expectedAtKill);
    }

    // 3. A new process: deploy_status reports it interrupted with its phase.
    const second = await startServer(app, proxy.current.endpoint);
    servers.push(second);
    const { reported } = await statusAfterKill(second, env, "lambda", killed, lockOwner);

    // 4. The next deploy_lambda settles it first, without breakLock.
    const healthBefore = health.requests;
    const startedAt = Date.now();
    const result = await second.call("deploy_lambda", { env });
    const settledAt = Date.now();
    const out = result.s;
    expect(out.status, result.text).toBe(c.settleStatus);
    expect(result.isError).toBe(c.settleStatus === "rolled_back");
    const recovered = expectSettled(out, killed, c.outcome, lockOwner);
    const record = await expectRecordRecovered(env, "lambda", killed, c.outcome, out.releaseId as string);

    // 5. Read back: live code passed its health gate, or is the previous release.
    const live = await liveCode(lambda, fn, alias);
    if (c.unhealthy) {
      expect(live.codeSha256).toBe(previous.codeSha256);
      expect(record.after).toMatchObject({ codeSha256: previous.codeSha256 });
      expect(recovered.note).toMatch(/failed its health gate/);
      if (alias) expect(live.version).toBe(previous.version);
    } else {
      expect(live.codeSha256).toBe(nextCodeSha256);
      expect(out.live).toEqual({ version: live.version, codeSha256: nextCodeSha256 });
      if (c.outcome === "kept") {
        expect(recovered.note).toMatch(/health gate passed/);
        expect(record.after).toMatchObject({ codeSha256: nextCodeSha256 });
      }
      if (alias) expect(live.version).not.toBe(previous.version);
    }
    // The gate ran against the health endpoint (in recovery, in the new release, or both).
    expect(health.requests).toBeGreaterThan(healthBefore);
    // The settling call's own release record is final too.
    const own = await readRecord(s3, env, "lambda", out.releaseId as string);
    expect(own.status).toBe(c.settleStatus === "rolled_back" ? "rolled_back" : "succeeded");
    // 6. No lock left; nothing else in progress; within the TTL plus a margin.
    expect(await readLock(s3, env)).toBeNull();
    await expectSettledStatus(second, env, "lambda");
    expect((await readRecords(s3, env, "lambda")).filter((r) => r.status === "in_progress")).toEqual([]);
    const waitedMs = startedAt - lastKillAt;
    const settleMs = settledAt - lastKillAt;
    expect(waitedMs).toBeLessThan(LOCK_TTL_SECONDS * 1000 + START_MARGIN_MS);
    expect(settledAt - startedAt).toBeLessThan(LAMBDA_CALL_BUDGET_MS);

    rows.push({
      case: c.name,
      killPoint: c.killPoint,
      phaseRecorded: killed.phase ?? "none",
      statusReported: reported,
      outcome: `${c.outcome} (deploy_lambda → ${String(out.status)})`,
      waitedMs,
      liveAfter: `${live.version} ${live.codeSha256.slice(0, 12)}… = ${live.codeSha256 === previous.codeSha256 ? "previous" : "new (gate passed)"}`,
      settleMs,
    });
  } finally {
    handle?.remove();
    for (const server of servers) await server.close();
    await health.close();
  }
}

/**
 * A protected env: the killed release was confirmed with a token; the next call asks for a
 * confirmation of a "settle it" plan (the new code looked live). Recovery then restores the
 * previous code (health 503), which makes that approved plan stale: the call stops there and
 * changes nothing else, as run-release.ts promises for protected envs.
 */
async function runProtectedCase(): Promise<void> {
  const n = ++counter;
  const env = `kp-${n}`;
  const fn = `kill-fn-${n}`;
  const prefix = `backend/${env}/`;
  const health = await startHealthServer();
  health.healthy = false;
  const previous = await seedFunction(fn, prefix, false);
  await createBucket(s3, `kill-unused-${n}`);
  const app = makeApp(env, {
    ...envConfigFor({ functionName: fn, siteBucket: `kill-unused-${n}`, healthUrl: health.url, prefix }),
    protected: true,
  });
  const servers: Server[] = [];
  const rule = proxy.current.add({
    match: lambdaCall(fn, "PublishVersion"),
    action: { kind: "hang" },
    times: 1,
  });
  try {
    const first = await startServer(app, proxy.current.endpoint);
    servers.push(first);
    expect(ok(await first.call("preflight", { env, components: ["backend"] }), "preflight").ok).toBe(true);
    const plan = ok(await first.call("deploy_lambda", { env }), "deploy_lambda plan");
    expect(plan.status).toBe("confirmation_required");
    const { killedAt } = await callAndKill(
      first,
      "deploy_lambda",
      { env, confirmationToken: plan.confirmationToken },
      { rule },
    );
    const [killed] = await readRecords(s3, env, "lambda");
    if (!killed) throw new Error("the killed release left no record");
    const nextCodeSha256 = killed.artifacts.codeSha256 as string;
    expect(killed).toMatchObject({ status: "in_progress", phase: "switching" });
    expect(await latestCode(lambda, fn)).toBe(nextCodeSha256);

    const second = await startServer(app, proxy.current.endpoint);
    servers.push(second);
    const { reported } = await statusAfterKill(second, env, "lambda", killed, killed.releaseId, true);
    const asked = ok(await second.call("deploy_lambda", { env }), "deploy_lambda plan");
    expect(asked.status).toBe("confirmation_required");
    expect(asked.interrupted).toEqual([
      { releaseId: killed.releaseId, component: "lambda", phase: "switching" },
    ]);
    const startedAt = Date.now();
    const result = await second.call("deploy_lambda", { env, confirmationToken: asked.confirmationToken });
    const settledAt = Date.now();
    const out = result.s;
    expect(result.isError).toBe(true);
    expect(out.status, result.text).toBe("failed");
    expect(String(out.failure)).toMatch(/^replan: Interrupted releases were recovered first/);
    expectSettled(out, killed, "restored", killed.releaseId);
    await expectRecordRecovered(env, "lambda", killed, "restored", out.releaseId as string);
    const live = await liveCode(lambda, fn, null);
    expect(live.codeSha256).toBe(previous.codeSha256);
    // Nothing but the recovery ran: no record of its own, no lock left.
    expect((await readRecords(s3, env, "lambda")).map((r) => r.releaseId)).toEqual([killed.releaseId]);
    expect(await readLock(s3, env)).toBeNull();
    await expectSettledStatus(second, env, "lambda");
    const waitedMs = startedAt - killedAt;
    const settleMs = settledAt - killedAt;
    expect(waitedMs).toBeLessThan(LOCK_TTL_SECONDS * 1000 + START_MARGIN_MS + 10_000);
    expect(settledAt - startedAt).toBeLessThan(LAMBDA_CALL_BUDGET_MS);
    rows.push({
      case: "P1 protected $LATEST unhealthy",
      killPoint: "confirmed deploy killed after update-code (PublishVersion held), health 503",
      phaseRecorded: killed.phase ?? "none",
      statusReported: reported,
      outcome: "restored (confirmed deploy_lambda → failed: replan, nothing else changed)",
      liveAfter: `$LATEST ${live.codeSha256.slice(0, 12)}… = previous`,
      waitedMs,
      settleMs,
    });
  } finally {
    rule.remove();
    for (const server of servers) await server.close();
    await health.close();
  }
}

/**
 * The next guarded call on the env is the OTHER tool: a deploy_frontend settles a killed Lambda
 * release (X1), a deploy_lambda settles a killed frontend release (X2), each before its own
 * release, with the other component's recovery rules. Small dists: the point is the hand-over.
 */
async function runCrossCase(killed: "lambda" | "frontend"): Promise<void> {
  const n = ++counter;
  const env = `kx-${n}`;
  const fn = `kill-fn-${n}`;
  const site = `kill-site-${n}`;
  const prefix = `backend/${env}/`;
  const health = await startHealthServer();
  // X1: the Lambda release's new code is unhealthy, so its recovery must restore the previous code.
  health.healthy = killed === "frontend";
  const previous = await seedFunction(fn, prefix, false);
  await createBucket(s3, site);
  const app = makeApp(
    env,
    envConfigFor({ functionName: fn, siteBucket: site, healthUrl: health.url, prefix }),
  );
  const distDir = join(app, "frontend-pwa", "dist");
  const seed = `kill-${n}`;
  const servers: Server[] = [];
  let rule: RuleHandle | null = null;
  try {
    const first = await startServer(app, proxy.current.endpoint);
    servers.push(first);
    const a: DistFixture = writeViteDist(distDir, { files: 300, seed });
    let b: DistFixture = a;
    if (killed === "frontend") {
      expect(ok(await first.call("deploy_frontend", { env, skipBuild: true }), "baseline").status).toBe(
        "deployed",
      );
      b = writeViteDist(distDir, { files: 300, seed, revisions: { 1: 1 } });
      rule = proxy.current.add({ match: sitePut(site, "index.html"), action: { kind: "hang" }, times: 1 });
    } else {
      rule = proxy.current.add({
        match: lambdaCall(fn, "PublishVersion"),
        action: { kind: "hang" },
        times: 1,
      });
    }
    const argsOf = (tool: string) => (tool === "deploy_frontend" ? { env, skipBuild: true } : { env });
    const tool = killed === "lambda" ? "deploy_lambda" : "deploy_frontend";
    const { killedAt } = await callAndKill(first, tool, argsOf(tool), { rule });
    const dead = (await readRecords(s3, env, killed)).find((r) => r.status === "in_progress");
    if (!dead) throw new Error("the killed release left no record");
    expect(dead.phase).toBe("switching");

    const second = await startServer(app, proxy.current.endpoint);
    servers.push(second);
    const { reported } = await statusAfterKill(second, env, killed, dead, dead.releaseId);
    const other = killed === "lambda" ? "deploy_frontend" : "deploy_lambda";
    const startedAt = Date.now();
    const result = await second.call(other, argsOf(other));
    const settledAt = Date.now();
    const out = ok(result, other);
    expect(out.status, result.text).toBe("deployed");
    const outcome = "restored";
    expectSettled(out, dead, outcome, dead.releaseId);
    await expectRecordRecovered(env, killed, dead, outcome, out.releaseId as string);

    // Read back both components.
    const live = await liveCode(lambda, fn, null);
    const siteNow = await readSite(s3, site, { a: a.files, b: b.files });
    let liveAfter: string;
    if (killed === "lambda") {
      // Recovery put the previous code back; the frontend deploy went on and went live.
      expect(live.codeSha256).toBe(previous.codeSha256);
      for (const key of ENTRY_POINTS) expect(siteNow.owners[key], key).toContain("a");
      liveAfter = `lambda previous ${live.codeSha256.slice(0, 12)}…; frontend: the new release, whole`;
    } else {
      // Recovery put the previous entry points back; the Lambda deploy went on and went live.
      expect(live.codeSha256).toBe(out.codeSha256);
      expect(live.codeSha256).not.toBe(previous.codeSha256);
      expect(siteNow.owners["index.html"]).toEqual(["a"]);
      expect(siteNow.owners["sw.js"]).toEqual(["a"]);
      liveAfter = `frontend: previous entry points, whole; lambda new ${live.codeSha256.slice(0, 12)}… (gate passed)`;
    }
    expect(siteNow.missingReferences).toEqual([]);
    expect(await readLock(s3, env)).toBeNull();
    for (const component of ["lambda", "frontend"]) {
      expect((await readRecords(s3, env, component)).filter((r) => r.status === "in_progress")).toEqual([]);
    }
    await expectSettledStatus(second, env, "lambda");
    await expectSettledStatus(second, env, "frontend");
    const waitedMs = startedAt - killedAt;
    const settleMs = settledAt - killedAt;
    expect(waitedMs).toBeLessThan(LOCK_TTL_SECONDS * 1000 + START_MARGIN_MS);
    expect(settledAt - startedAt).toBeLessThan(LAMBDA_CALL_BUDGET_MS);
    rows.push({
      case:
        killed === "lambda"
          ? "X1 lambda killed, frontend call settles"
          : "X2 frontend killed, lambda call settles",
      killPoint:
        killed === "lambda"
          ? "deploy_lambda after update-code (PublishVersion held), health 503"
          : "deploy_frontend (300 files) during publish-index-html (index.html PUT held)",
      phaseRecorded: dead.phase ?? "none",
      statusReported: reported,
      outcome: `${outcome} (${other} → ${String(out.status)})`,
      liveAfter,
      waitedMs,
      settleMs,
    });
  } finally {
    rule?.remove();
    for (const server of servers) await server.close();
    await health.close();
  }
}

/**
 * The very first frontend release of an env (empty bucket) killed mid-switch: the entry points
 * it added are not "previous" ones to put back but to delete (previousSha256 null), so the
 * site is as before (nothing to serve) until the settling call deploys the build whole.
 */
async function runFirstFrontendCase(): Promise<void> {
  const n = ++counter;
  const env = `kf0-${n}`;
  const site = `kill-site-${n}`;
  await createBucket(s3, site);
  const app = makeApp(
    env,
    envConfigFor({ functionName: `kill-unused-fn-${n}`, siteBucket: site, prefix: `backend/${env}/` }),
  );
  const a = writeViteDist(join(app, "frontend-pwa", "dist"), { files: 300, seed: `kill-${n}` });
  const servers: Server[] = [];
  const rule = proxy.current.add({ match: sitePut(site, "index.html"), action: { kind: "hang" }, times: 1 });
  try {
    const first = await startServer(app, proxy.current.endpoint);
    servers.push(first);
    const { killedAt } = await callAndKill(first, "deploy_frontend", { env, skipBuild: true }, { rule });
    const [killed] = await readRecords(s3, env, "frontend");
    if (!killed) throw new Error("the killed release left no record");
    expect(killed).toMatchObject({ status: "in_progress", phase: "switching" });
    const snapshot = (
      killed.recoveryFacts as { snapshot: Array<{ key: string; previousSha256: string | null }> }
    ).snapshot;
    expect(snapshot.map((e) => [e.key, e.previousSha256]).sort()).toEqual(
      ENTRY_POINTS.map((key) => [key, null]).sort(),
    );
    const atKill = await readSite(s3, site, { a: a.files });
    expect(atKill.owners).toEqual({
      "index.html": null,
      "sw.js": ["a"],
      "manifest.webmanifest": ["a"],
      "registerSW.js": ["a"],
    });

    const second = await startServer(app, proxy.current.endpoint);
    servers.push(second);
    const { reported } = await statusAfterKill(second, env, "frontend", killed, killed.releaseId);
    const startedAt = Date.now();
    const result = await second.call("deploy_frontend", { env, skipBuild: true });
    const settledAt = Date.now();
    const out = ok(result, "settling deploy_frontend");
    expect(out.status, result.text).toBe("deployed");
    expectSettled(out, killed, "restored", killed.releaseId);
    await expectRecordRecovered(env, "frontend", killed, "restored", out.releaseId as string);
    // The recovery deleted the entry points the dead release had added; the settling release
    // then put the whole build up (its plan, made before the recovery, was made again).
    expect(result.progress.some((m) => /^Removing sw\.js from s3:\/\//.test(m))).toBe(true);
    const after = await readSite(s3, site, { a: a.files });
    for (const key of ENTRY_POINTS) expect(after.owners[key], key).toEqual(["a"]);
    expect(after.missingReferences).toEqual([]);
    expect(await readLock(s3, env)).toBeNull();
    await expectSettledStatus(second, env, "frontend");
    const waitedMs = startedAt - killedAt;
    const settleMs = settledAt - killedAt;
    expect(waitedMs).toBeLessThan(LOCK_TTL_SECONDS * 1000 + START_MARGIN_MS);
    expect(settledAt - startedAt).toBeLessThan(LAMBDA_CALL_BUDGET_MS);
    rows.push({
      case: "F0 first frontend release",
      killPoint:
        "first deploy_frontend (300 files, empty bucket) during publish-index-html (index.html PUT held)",
      phaseRecorded: killed.phase ?? "none",
      statusReported: reported,
      outcome: "restored: the 3 entry points it added deleted (deploy_frontend → deployed)",
      liveAfter: "all 4 entry points of the build; every reference present",
      waitedMs,
      settleMs,
    });
  } finally {
    rule.remove();
    for (const server of servers) await server.close();
  }
}

/**
 * Regression (src/release/run-release.ts startHeartbeat, src/release/lock.ts putIfStillOurs):
 * when S3 answers a lock refresh slower than the heartbeat interval (here 1.9 s vs 1.25 s),
 * overlapping refreshes used to lose the If-Match race against each other and mark the lock
 * lost although its nonce never changed, stopping the release. A tick is now skipped while a
 * refresh runs, and a refresh keeps trying while the lock it reads back is its own.
 */
async function runHeartbeatRace(): Promise<void> {
  const n = ++counter;
  const env = `kh-${n}`;
  const fn = `kill-fn-${n}`;
  const prefix = `backend/${env}/`;
  const health = await startHealthServer();
  await seedFunction(fn, prefix, false);
  await createBucket(s3, `kill-unused-${n}`);
  const app = makeApp(
    env,
    envConfigFor({ functionName: fn, siteBucket: `kill-unused-${n}`, healthUrl: health.url, prefix }),
    // TTL 5: a refresh every 1.25 s, which the 1.9 s refreshes below overtake.
    5,
  );
  // Every refresh (a PutObject with If-Match on the lock) takes 1.9 s; UpdateFunctionCode 9 s,
  // so the release lives long enough for the refreshes to overlap.
  const refreshes = proxy.current.add({
    match: {
      service: "s3",
      operation: "PutObject",
      bucket: ARTIFACT_BUCKET,
      key: `locks/${env}.json`,
      header: { "if-match": /./ },
    },
    action: { kind: "delay", ms: 1900 },
  });
  const slow = proxy.current.add({
    match: lambdaCall(fn, "UpdateFunctionCode"),
    action: { kind: "delay", ms: 9000 },
    times: 1,
  });
  const servers: Server[] = [];
  const holders = new Set<string>();
  let watching = true;
  // Who holds the lock, read straight from moto while the call runs: only this release.
  const watcher = (async () => {
    while (watching) {
      const lock = await readLock(s3, env);
      if (lock) holders.add(lock.nonce);
      await sleep(100);
    }
  })();
  try {
    const server = await startServer(app, proxy.current.endpoint);
    servers.push(server);
    const result = await server.call("deploy_lambda", { env });
    watching = false;
    await watcher;
    expect(holders.size).toBe(1);
    expect(refreshes.hits).toBeGreaterThanOrEqual(4);
    // The bug: the release believes another call took its lock, and stops.
    expect(String(result.s.failure ?? "")).not.toMatch(/taken by another call/);
    expect(result.s.status, result.text).toBe("deployed");
  } finally {
    watching = false;
    await watcher;
    refreshes.remove();
    slow.remove();
    for (const server of servers) await server.close();
    await health.close();
  }
}

function lambdaSuite(): void {
  for (const c of LAMBDA_CASES) {
    it(`${c.name}: killed ${c.killPoint}`, () => runLambdaCase(c), 150_000);
  }
  it("P1 protected env: a confirmed deploy killed after update-code, health 503", runProtectedCase, 180_000);
  it(
    "X1 a killed deploy_lambda (health 503) is settled by the next deploy_frontend",
    () => runCrossCase("lambda"),
    150_000,
  );
  it(
    "X2 a killed deploy_frontend (mid-switch) is settled by the next deploy_lambda",
    () => runCrossCase("frontend"),
    150_000,
  );
  it("F0 the first frontend release of an env, killed mid-switch", runFirstFrontendCase, 150_000);
  // Regression: slow heartbeat refreshes must not overlap and misread our own lock as taken.
  it(
    "slow lock refreshes do not make the release stop as 'lock taken by another call'",
    runHeartbeatRace,
    90_000,
  );
  for (const c of FRONTEND_CASES.filter((f) => f.ownSite)) {
    it(`${c.name} (own 300-file site): killed ${c.killPoint}`, () => runFrontendCase(c), 150_000);
  }
}

// ---- Frontend ------------------------------------------------------------------------------

interface FrontendCase {
  name: string;
  killPoint: string;
  /**
   * The next build: 600 of the 2,000 files changed (a big rebuild; kept below "all" so moto has
   * ~1,400 fewer uploads to take), or one preloaded route chunk (and the entry points).
   */
  rebuild: "many" | "one-chunk";
  trigger: (site: string, env: string) => Trigger;
  afterKill?: (ctx: {
    site: string;
    rule: RuleHandle | null;
    next: DistFixture;
    newChunk: string | null;
  }) => Promise<void>;
  phase: Phase;
  /** Entry points right after the kill (and afterKill), by build. */
  entryPointsAtKill: "a" | "b" | "mixed";
  outcome: "kept" | "restored" | "nothing_changed";
  settleStatus: "deployed" | "unchanged";
  /** The process that recovers it is killed too, at this request; a third one settles it. */
  secondKill?: { killPoint: string; trigger: (site: string) => FaultRule };
  /** A variant on its own 300-file site, run alongside the Lambda cases. */
  ownSite?: boolean;
}

const sitePut = (site: string, key: string | RegExp): FaultRule["match"] => ({
  service: "s3",
  operation: "PutObject",
  bucket: site,
  key,
});

/**
 * The integrity check's read of the live index.html: the first GetObject of it in a deploy
 * (the entry points carry sha256 metadata, so nothing before reads their bytes), made after
 * index.html was published. Holding it kills inside the check, whatever the machine's load.
 */
const integrityRead = (site: string): FaultRule["match"] => ({
  service: "s3",
  operation: "GetObject",
  bucket: site,
  key: "index.html",
});

async function landed(site: string, key: string, next: DistFixture): Promise<void> {
  const want = sha256Hex(next.files.get(key) as Buffer);
  await waitFor(`${key} of the new build to land`, async () => {
    const bytes = await readBytes(s3, site, key);
    return bytes !== null && sha256Hex(bytes) === want;
  });
}

const FRONTEND_CASES: FrontendCase[] = [
  {
    name: "F1",
    killPoint: "during upload-assets (201st of 600 asset PUTs held)",
    rebuild: "many",
    trigger: (site) => ({ rule: { match: sitePut(site, /^assets\//), action: { kind: "hang" }, skip: 200 } }),
    phase: "uploading",
    entryPointsAtKill: "a",
    outcome: "nothing_changed",
    settleStatus: "deployed",
  },
  {
    name: "F2",
    killPoint: "during publish-other-entry-points (sw.js PUT delayed 1.5 s, lands after the kill)",
    rebuild: "one-chunk",
    trigger: (site) => ({ rule: { match: sitePut(site, "sw.js"), action: { kind: "delay", ms: 1500 } } }),
    afterKill: ({ site, next }) => landed(site, "sw.js", next),
    phase: "switching",
    entryPointsAtKill: "mixed",
    outcome: "restored",
    settleStatus: "deployed",
  },
  {
    name: "F3",
    killPoint: "during publish-index-html (index.html PUT held, never lands)",
    rebuild: "one-chunk",
    trigger: (site) => ({ rule: { match: sitePut(site, "index.html"), action: { kind: "hang" } } }),
    phase: "switching",
    entryPointsAtKill: "mixed",
    outcome: "restored",
    settleStatus: "deployed",
  },
  {
    name: "F3b killed twice",
    ownSite: true,
    killPoint:
      "during publish-index-html (index.html PUT held, never lands); then the recovering call killed while putting sw.js back (CopyObject held)",
    rebuild: "one-chunk",
    trigger: (site) => ({ rule: { match: sitePut(site, "index.html"), action: { kind: "hang" } } }),
    secondKill: {
      killPoint: "restore CopyObject of sw.js held",
      trigger: (site) => ({
        match: { service: "s3", operation: "CopyObject", bucket: site, key: "sw.js" },
        action: { kind: "hang" },
      }),
    },
    phase: "switching",
    entryPointsAtKill: "mixed",
    outcome: "restored",
    settleStatus: "deployed",
  },
  {
    name: "F4",
    ownSite: true,
    killPoint: "during publish-index-html (index.html PUT delayed 1.5 s, lands after the kill)",
    rebuild: "one-chunk",
    trigger: (site) => ({
      rule: { match: sitePut(site, "index.html"), action: { kind: "delay", ms: 1500 } },
    }),
    afterKill: ({ site, next }) => landed(site, "index.html", next),
    phase: "switching",
    entryPointsAtKill: "b",
    outcome: "kept",
    settleStatus: "unchanged",
  },
  {
    name: "F5",
    killPoint: "during integrity-check (its GetObject of the live index.html held)",
    rebuild: "one-chunk",
    trigger: (site) => ({ rule: { match: integrityRead(site), action: { kind: "hang" } } }),
    // The frontend enters verifying without a write of its own (phasesRecordedLate): the
    // record still says switching, and recovery reads the live entry points either way.
    phase: "switching",
    entryPointsAtKill: "b",
    outcome: "kept",
    settleStatus: "unchanged",
  },
  {
    name: "F6",
    ownSite: true,
    killPoint:
      "during integrity-check (GetObject index.html held), then the new chunk index.html preloads is deleted",
    rebuild: "one-chunk",
    trigger: (site) => ({ rule: { match: integrityRead(site), action: { kind: "hang" } } }),
    async afterKill({ site, newChunk }) {
      await s3.send(new DeleteObjectCommand({ Bucket: site, Key: newChunk as string }));
    },
    // The frontend enters verifying without a write of its own (phasesRecordedLate): the
    // record still says switching, and recovery reads the live entry points either way.
    phase: "switching",
    entryPointsAtKill: "b",
    outcome: "restored",
    settleStatus: "deployed",
  },
];

/**
 * A site bucket with its env. The 2,000-file upload of a first release costs 5–40 s of moto
 * time (more on a busy machine), so the 2,000-file cases share one site and each goes on from
 * where the case before left it: its previous release is the release the case before settled
 * into, read back whole first (and deployed again if that case failed). The extra variants run
 * alongside the Lambda cases, each on its own 300-file site.
 */
interface Site {
  files: number;
  /** release.lockTtlSeconds of its app. */
  ttlSeconds: number;
  env: string;
  bucket: string;
  app: string;
  distDir: string;
  seed: string;
  revisions: Record<number, number>;
  /** The route chunk the next one-chunk rebuild changes (0–4: the ones index.html preloads). */
  nextChunk: number;
  /** The case before left the current build live, whole and settled (checked by that case). */
  clean: boolean;
}

async function newSite(name: string, files: number, ttlSeconds = LOCK_TTL_SECONDS): Promise<Site> {
  const env = `kf-${name}`;
  const bucket = `kill-site-${name}`;
  await createBucket(s3, bucket);
  const app = makeApp(
    env,
    envConfigFor({ functionName: `kill-unused-fn-${name}`, siteBucket: bucket, prefix: `backend/${env}/` }),
    ttlSeconds,
  );
  return {
    files,
    ttlSeconds,
    env,
    bucket,
    app,
    distDir: join(app, "frontend-pwa", "dist"),
    seed: `kill-${name}`,
    revisions: {},
    nextChunk: 0,
    clean: false,
  };
}

let chain: Promise<Site> | undefined;

const writeBuild = (site: Site) =>
  writeViteDist(site.distDir, { files: site.files, seed: site.seed, revisions: site.revisions });

/**
 * The previous release: the site's current build deployed by the tool (straight to moto) and
 * read back whole. After a passing case it is already live ("unchanged"); after a failing one
 * this call settles whatever that case left.
 */
async function deployBaseline(site: Site): Promise<DistFixture> {
  const build = writeBuild(site);
  if (!site.clean) {
    await waitForLockExpiry(s3, site.env);
    const seeder = await startServer(site.app, moto.current.endpoint);
    try {
      const out = ok(await seeder.call("deploy_frontend", { env: site.env, skipBuild: true }), "baseline");
      expect(["deployed", "unchanged"]).toContain(out.status);
    } finally {
      await seeder.close();
    }
  }
  site.clean = false;
  const live = await readSite(s3, site.bucket, { a: build.files });
  for (const key of ENTRY_POINTS) expect(live.owners[key], key).toEqual(["a"]);
  expect(live.missingReferences).toEqual([]);
  return build;
}

async function runFrontendCase(c: FrontendCase): Promise<void> {
  const t0 = Date.now();
  const mark = (what: string) => {
    if (process.env.KILL_DEBUG) process.stderr.write(`[${c.name} +${Date.now() - t0} ms] ${what}\n`);
  };
  let site: Site;
  if (c.ownSite) site = await newSite(String(++counter), 300);
  else {
    chain ??= newSite(`chain-${++counter}`, 2000);
    site = await chain;
  }
  const { env, bucket } = site;
  const servers: Server[] = [];
  let handle: RuleHandle | null = null;
  try {
    // 0. The previous release, 2,000 files, live and whole.
    mark("baseline");
    const a = await deployBaseline(site);
    mark("baseline live");
    const first = await startServer(site.app, proxy.current.endpoint);
    servers.push(first);

    // 1. The release that dies: 600 route chunks changed, or one preloaded route chunk (each
    // with index.html and sw.js, which list them).
    let newChunk: string | null = null;
    if (c.rebuild === "many") {
      const revisions = { ...site.revisions };
      for (let i = 0; i < 750; i++) if (i % 10 < 8) revisions[i] = (revisions[i] ?? 0) + 1;
      site.revisions = revisions;
    } else {
      const chunk = site.nextChunk++ % 5;
      site.revisions = { ...site.revisions, [chunk]: (site.revisions[chunk] ?? 0) + 1 };
    }
    const b = writeBuild(site);
    const changed = b.chunks.filter((key) => !a.files.has(key));
    expect(changed).toHaveLength(c.rebuild === "many" ? 600 : 1);
    if (c.rebuild === "one-chunk") {
      newChunk = changed[0] as string;
      expect(b.indexReferences).toContain(newChunk);
    }
    const builds = { a: a.files, b: b.files };
    const assetPuts = { service: "s3", operation: "PutObject", bucket, key: /^assets\// };
    const assetPutsBefore = proxy.current.count(assetPuts);
    const trigger = c.trigger(bucket, env);
    handle = "rule" in trigger ? proxy.current.add({ ...trigger.rule, times: 1 }) : null;
    const { killedAt } = await callAndKill(
      first,
      "deploy_frontend",
      { env, skipBuild: true },
      handle ? { rule: handle } : (trigger as { progress: RegExp }),
    );
    mark("killed");
    const killed = (await readRecords(s3, env, "frontend")).find((r) => r.status === "in_progress");
    if (!killed) throw new Error("the killed release left no in_progress record");
    await c.afterKill?.({ site: bucket, rule: handle, next: b, newChunk });

    // 2. What the dead release left.
    expect(killed.phase).toBe(c.phase);
    const snapshot = (killed.recoveryFacts as { snapshot: Array<{ key: string }> }).snapshot;
    // Written before upload-assets: the entry points it replaces (index.html and sw.js change).
    expect(snapshot.map((e) => e.key).sort()).toEqual(["index.html", "sw.js"]);
    const atKill = await readSite(s3, bucket, builds);
    if (c.entryPointsAtKill === "mixed") {
      expect(atKill.owners["index.html"]).toEqual(["a"]);
      expect(atKill.owners["sw.js"]).toEqual(["b"]);
    } else {
      for (const key of ENTRY_POINTS) expect(atKill.owners[key], key).toContain(c.entryPointsAtKill);
    }
    if (c.rebuild === "many") {
      // Killed mid-upload: the previous index.html still serves and everything it needs is there.
      expect(atKill.missingReferences).toEqual([]);
      const uploaded = proxy.current.count(assetPuts) - assetPutsBefore;
      expect(uploaded).toBeGreaterThanOrEqual(201);
      expect(uploaded).toBeLessThan(600);
    }

    let lockOwner = killed.releaseId;
    let lastKillAt = killedAt;
    if (c.secondKill) {
      // 2b. The next call starts recovering it and dies too, mid-restore.
      await waitForLockExpiry(s3, env);
      const recovering = await startServer(site.app, proxy.current.endpoint);
      servers.push(recovering);
      const again = proxy.current.add({ ...c.secondKill.trigger(bucket), times: 1 });
      try {
        const { progress, killedAt: at } = await callAndKill(
          recovering,
          "deploy_frontend",
          { env, skipBuild: true },
          { rule: again },
        );
        lastKillAt = at;
        expect(progress.some((m) => m.startsWith(`Recovering interrupted release ${killed.releaseId}`))).toBe(
          true,
        );
      } finally {
        again.remove();
      }
      const lock = await readLock(s3, env);
      expect(lock?.releaseId).toBeDefined();
      expect(lock?.releaseId).not.toBe(killed.releaseId);
      lockOwner = lock?.releaseId as string;
      // It wrote no record of its own; the first one still says in_progress.
      const open = (await readRecords(s3, env, "frontend")).filter((r) => r.status === "in_progress");
      expect(open.map((r) => r.releaseId)).toEqual([killed.releaseId]);
      const still = await readSite(s3, bucket, builds);
      expect(still.owners["index.html"]).toEqual(["a"]);
      expect(still.owners["sw.js"]).toEqual(["b"]);
    }

    // 3. A new process reports it interrupted.
    const second = await startServer(site.app, proxy.current.endpoint);
    servers.push(second);
    const { reported } = await statusAfterKill(second, env, "frontend", killed, lockOwner);

    // 4. The next deploy_frontend settles it first.
    mark("settling deploy");
    const startedAt = Date.now();
    const result = await second.call("deploy_frontend", { env, skipBuild: true });
    const settledAt = Date.now();
    mark("settled");
    const out = ok(result, "settling deploy_frontend");
    expect(out.status, result.text).toBe(c.settleStatus);
    expectSettled(out, killed, c.outcome, lockOwner);
    await expectRecordRecovered(env, "frontend", killed, c.outcome, out.releaseId as string);
    expect((out.integrity as Structured | undefined)?.ok ?? true).toBe(true);

    // 5. Read back: one release's entry points, and every file they reference is there.
    const after = await readSite(s3, bucket, builds);
    for (const key of ENTRY_POINTS) expect(after.owners[key], key).toContain("b");
    // index.html and sw.js differ between the builds: they are the new build's, not the old.
    expect(after.owners["index.html"]).toEqual(["b"]);
    expect(after.owners["sw.js"]).toEqual(["b"]);
    expect(after.missingReferences).toEqual([]);
    expect(after.referencesChecked).toBeGreaterThan(site.files - 100);
    const own = await readRecord(s3, env, "frontend", out.releaseId as string);
    expect(own.status).toBe("succeeded");
    expect(await readLock(s3, env)).toBeNull();
    await expectSettledStatus(second, env, "frontend");
    expect((await readRecords(s3, env, "frontend")).filter((r) => r.status === "in_progress")).toEqual([]);
    const waitedMs = startedAt - lastKillAt;
    const settleMs = settledAt - lastKillAt;
    expect(waitedMs).toBeLessThan(site.ttlSeconds * 1000 + START_MARGIN_MS);
    expect(settledAt - startedAt).toBeLessThan(FRONTEND_CALL_BUDGET_MS);

    // The next one-chunk case starts from here without deploying it again.
    site.clean = true;
    rows.push({
      case: c.name,
      killPoint: c.killPoint,
      phaseRecorded: killed.phase ?? "none",
      statusReported: reported,
      outcome: `${c.outcome} (deploy_frontend → ${String(out.status)})`,
      liveAfter: `index.html + sw.js of the new build, other entry points identical; ${after.referencesChecked} referenced keys all present`,
      waitedMs,
      settleMs,
    });
  } finally {
    handle?.remove();
    for (const server of servers) await server.close();
  }
}

function frontendSuite(): void {
  // One after the other: each goes on from the site the case before left.
  for (const c of FRONTEND_CASES.filter((f) => !f.ownSite)) {
    it.sequential(`${c.name}: killed ${c.killPoint}`, () => runFrontendCase(c), 240_000);
  }
}

/**
 * Both suites at once: the Lambda cases mostly wait (the dead lock's TTL, the health gate's
 * pauses) and overlap with each other and with the frontend cases, which keep moto busy.
 */
describe.concurrent("kill → new process → recovery", () => {
  describe("Lambda ($LATEST and alias)", lambdaSuite);
  describe("frontend with a 2,000-file dist", frontendSuite);
});
