import type { S3Client } from "@aws-sdk/client-s3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApprovalAnswer, ApprovalRequest } from "../../src/core/context.js";
import { CancelledError, type DeployError, RefusalError } from "../../src/core/errors.js";
import type { ToolContext } from "../../src/release/context.js";
import {
  acquireDeployLock,
  DEFAULT_LOCK_TTL_SECONDS,
  lockKey,
  readDeployLock,
} from "../../src/release/lock.js";
import { digestPlan } from "../../src/release/plan-digest.js";
import { recordPreflight, type StoredPreflight } from "../../src/release/preflight-records.js";
import { listReleaseRecords, newReleaseId, writeReleaseRecord } from "../../src/release/records.js";
import { runRelease } from "../../src/release/run-release.js";
import type {
  Recoverers,
  RecoveryIo,
  ReleaseResult,
  ReleaseRun,
  ReleaseSpec,
} from "../../src/release/spec.js";
import { issueConfirmationToken, verifyConfirmationToken } from "../../src/release/tokens.js";
import { type Component, type ReleaseRecord, releaseRecordSchema } from "../../src/release/types.js";
import type { Runtime } from "../../src/server/runtime.js";
import { createBucket } from "../support/aws-fixtures.js";
import { createGitRepo, type GitFixture } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { rejectionOf } from "../support/rejection.js";
import { artifactBucketRuntime, toolContextFor } from "../support/runtime.js";
import {
  MARKER_KEY,
  type MarkerLive,
  type MarkerOptions,
  type MarkerPlan,
  type MarkerState,
  markerSpec,
} from "./marker-spec.js";
import { interceptS3, internalError, listKeys, putText, readJsonObject, readObject } from "./s3-probe.js";

/**
 * The one release flow (runRelease) over a small hand-written spec whose "live" state is one
 * marker object in moto S3 (see marker-spec.ts). Assertions read moto back: the marker, the
 * release records, the lock object, spent tokens.
 */
const moto = useMoto();
const SECRET = "shared-secret-for-release-tests";
const ARN = "arn:aws:sts::123456789012:user/moto";
const UNDO_BUDGET_SECONDS = 3;

let counter = 0;
let bucket: string;
let s3: S3Client;
let repo: GitFixture;
let clock: Date;
let runtime: Runtime;

interface Setup {
  config?: Record<string, unknown>;
  secret?: string;
}

function makeRuntime(options: Setup = {}): Runtime {
  return artifactBucketRuntime({
    moto: moto.current,
    appRoot: repo.dir,
    bucket,
    envs: ["prod", "staging", "dev"],
    config: { release: { undoBudgetSeconds: UNDO_BUDGET_SECONDS }, ...options.config },
    now: () => clock,
    secret: options.secret ?? SECRET,
  });
}

const contextFor = toolContextFor;
const overContext = (c: ToolContext, over: Partial<ToolContext>): ToolContext => ({ ...c, ...over });

function spec(over: Partial<MarkerOptions> = {}): ReleaseSpec<MarkerPlan, MarkerState, MarkerLive> {
  return markerSpec({ s3, bucket, ...over });
}

type Result = ReleaseResult<MarkerState, MarkerLive>;
type Run = ReleaseRun<MarkerState, MarkerLive>;

function finished(result: Result): Run {
  if (result.kind !== "finished") throw new Error(`expected a finished run, got ${result.kind}`);
  return result;
}

/** No recoverers: a test that expects recovery passes its own. */
const NONE: Recoverers = {};

function release(ctx: ToolContext, s = spec(), recoverers: Recoverers = NONE): Promise<Result> {
  return runRelease(ctx, s, recoverers);
}

async function marker(): Promise<string | null> {
  return (await readObject(s3, bucket, MARKER_KEY))?.body ?? null;
}

async function bucketKeys(): Promise<string[]> {
  return listKeys(s3, bucket);
}

async function recordOf(env: string, releaseId: string, component: Component = "lambda") {
  return readJsonObject(s3, bucket, `releases/${env}/${component}/${releaseId}.json`);
}

async function lockGone(env: string): Promise<boolean> {
  return (await readObject(s3, bucket, lockKey(env))) === null;
}

async function passPreflight(ctx: ToolContext, patch: Partial<StoredPreflight> = {}): Promise<void> {
  await recordPreflight(ctx, {
    preflightId: `pf-20261125T130000Z-${(++counter).toString(16).padStart(8, "0")}`,
    env: ctx.envName,
    gitSha: repo.head(),
    clean: true,
    ok: true,
    at: clock.toISOString(),
    components: ["backend", "frontend", "infra"],
    ...patch,
  });
}

/** The token the unconfirmed call hands out for this spec. */
async function tokenFor(ctx: ToolContext, over: Partial<MarkerOptions> = {}): Promise<string> {
  const first = await release(ctx, spec(over));
  if (first.kind !== "confirmation_required") throw new Error("expected confirmation_required");
  return first.confirmationToken;
}

beforeEach(async () => {
  bucket = `release-test-${++counter}`;
  s3 = await moto.current.clients().s3();
  await createBucket(s3, bucket);
  await putText(s3, bucket, MARKER_KEY, "v1");
  clock = new Date("2026-11-25T13:00:00.000Z");
  repo = createGitRepo({ files: { "backend/app/main.py": "print('hi')\n" } });
  runtime = makeRuntime();
  repo.commitAll("config");
});

describe("unprotected env: steps, journal, record, lock", () => {
  it("runs the steps in order and writes a final succeeded record with the journal phases in order", async () => {
    const ctx = contextFor(runtime, { envName: "dev" });
    const seen: Record<string, unknown> = {};
    const s = spec({
      async before(step, io) {
        if (step !== "switch") return;
        // While the release runs: its lock is live and its record says in_progress, in phase.
        seen.lock = await readDeployLock({ s3, bucket, envName: "dev", now: () => clock });
        seen.record = await recordOf("dev", io.releaseId);
      },
    });
    const run = finished(await release(ctx, s));
    expect(run).toMatchObject({
      kind: "finished",
      status: "succeeded",
      cancelled: false,
      phase: "finishing",
      planDigest: digestPlan({ key: MARKER_KEY, value: "v2" }),
      startedAtMs: clock.getTime(),
      live: { marker: "v2" },
      replacedLock: null,
      recovered: [],
      warnings: [],
    });
    expect(run.releaseId).toMatch(/^20261125T130000000Z-[0-9a-f]{6}$/);
    expect(run.failure).toBeUndefined();
    expect(run.undo).toBeUndefined();
    expect(run.state.events).toEqual(["prepare", "upload", "switch", "health-check", "tidy"]);
    expect(run.timings).toMatchObject({
      prepareMs: expect.any(Number),
      uploadMs: expect.any(Number),
      switchMs: expect.any(Number),
      "health-checkMs": expect.any(Number),
      tidyMs: expect.any(Number),
    });

    expect(seen.lock).toMatchObject({
      holder: ARN,
      tool: "deploy_lambda",
      releaseId: run.releaseId,
      state: "live",
    });
    expect(seen.record).toMatchObject({
      releaseId: run.releaseId,
      status: "in_progress",
      phase: "switching",
      recoveryPlan: `Found in switching: read ${MARKER_KEY} and keep or restore it.`,
      before: { marker: "v1" },
      finishedAt: null,
    });

    const record = await recordOf("dev", run.releaseId);
    expect(record).toMatchObject({
      releaseId: run.releaseId,
      env: "dev",
      component: "lambda",
      tool: "deploy_lambda",
      status: "succeeded",
      who: ARN,
      gitSha: repo.head(),
      startedAt: "2026-11-25T13:00:00.000Z",
      finishedAt: "2026-11-25T13:00:00.000Z",
      planDigest: run.planDigest,
      phase: "finishing",
      before: { marker: "v1" },
      after: { marker: "v2" },
      artifacts: { value: "v2", staged: `staged/${run.releaseId}.txt` },
      recoveryFacts: { key: MARKER_KEY },
      health: { checked: MARKER_KEY },
      timings: { totalMs: expect.any(Number), switchMs: expect.any(Number) },
    });
    const journal = record.journal as Array<{ phase: string; at: string }>;
    expect(journal.map((j) => j.phase)).toEqual([
      "locked",
      "preparing",
      "uploading",
      "switching",
      "verifying",
      "finishing",
    ]);
    expect(journal.every((j) => j.at === "2026-11-25T13:00:00.000Z")).toBe(true);
    expect(record).not.toHaveProperty("error");

    expect(await marker()).toBe("v2");
    expect(await lockGone("dev")).toBe(true);
    // The cleanup removed the staged copy; no token is issued or spent on an unprotected env.
    // Besides the record: its report, under its own prefix.
    expect(await bucketKeys()).toEqual([
      `releases/dev/lambda/${run.releaseId}.json`,
      `reports/dev/lambda/${run.releaseId}.md`,
      `reports/dev/lambda/${run.releaseId}.svg`,
      MARKER_KEY,
    ]);
  });

  it("records list newest first, each with who and its final status", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock = new Date(Date.UTC(2026, 10, 25, 14, i, 0));
      const run = finished(
        await release(contextFor(runtime, { envName: "dev" }), spec({ value: `v${i + 2}` })),
      );
      expect(run.status).toBe("succeeded");
      ids.push(run.releaseId);
    }
    const records = await listReleaseRecords(s3, bucket, "dev", "lambda");
    expect(records.map((r) => r.releaseId)).toEqual([...ids].reverse());
    expect(records.every((r) => r.status === "succeeded" && r.who === ARN)).toBe(true);
    expect(await marker()).toBe("v4");
    expect((await bucketKeys()).filter((k) => k.startsWith("locks/") || k.startsWith("tokens/"))).toEqual([]);
  });

  it("a spec without verify and cleanup runs just its steps", async () => {
    const run = finished(
      await release(contextFor(runtime, { envName: "dev" }), spec({ verify: false, cleanup: false })),
    );
    expect(run.status).toBe("succeeded");
    expect(run.state.events).toEqual(["prepare", "upload", "switch"]);
    expect(
      ((await recordOf("dev", run.releaseId)).journal as Array<{ phase: string }>).map((j) => j.phase),
    ).toEqual(["locked", "preparing", "uploading", "switching"]);
  });
});

describe("protected env: the confirmation round trip", () => {
  it("a call without a token plans and writes nothing: no record, no lock, no token spent, marker unchanged", async () => {
    const ctx = contextFor(runtime);
    const before = await bucketKeys();
    const s = spec();
    const result = await release(ctx, s);
    expect(result).toEqual({
      kind: "confirmation_required",
      planDigest: digestPlan({ key: MARKER_KEY, value: "v2" }),
      confirmationToken: expect.stringMatching(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/),
      expiresAt: "2026-11-25T13:10:00.000Z",
      blockedBy: expect.stringMatching(/^Tests first: no preflight/),
    });
    expect(s.state.events).toEqual([]);
    expect(await bucketKeys()).toEqual(before);
    expect(before).toEqual([MARKER_KEY]);
    expect(await marker()).toBe("v1");
  });

  it("the answer says up front when the confirmed call would meet the tests-first gate", async () => {
    const ctx = contextFor(runtime);
    expect(await release(ctx)).toMatchObject({
      kind: "confirmation_required",
      blockedBy: expect.stringMatching(/^Tests first: no preflight/),
    });
    await passPreflight(ctx);
    const clear = await release(ctx);
    expect(clear.kind).toBe("confirmation_required");
    expect(clear).not.toHaveProperty("blockedBy");
    expect(await release(ctx, spec({ requirePreflight: false }))).not.toHaveProperty("blockedBy");
  });

  it("a valid token works exactly once: the run goes ahead, the token is spent, a reuse changes nothing", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const run = finished(await release(ctx, spec({ confirmationToken: token })));
    expect(run).toMatchObject({
      status: "succeeded",
      planDigest: digestPlan({ key: MARKER_KEY, value: "v2" }),
    });
    expect(await marker()).toBe("v2");
    expect(await recordOf("prod", run.releaseId)).toMatchObject({
      status: "succeeded",
      who: ARN,
      gitSha: repo.head(),
    });
    const keys = await bucketKeys();
    expect(keys.filter((k) => k.startsWith("tokens/prod/"))).toHaveLength(1);
    expect(await lockGone("prod")).toBe(true);

    // Second use, same process: refused before anything runs.
    await putText(s3, bucket, MARKER_KEY, "v1");
    const again = spec({ confirmationToken: token });
    const error = await rejectionOf(release(ctx, again));
    expect(error).toBeInstanceOf(RefusalError);
    expect(error.detail?.reason).toBe("already_used");
    expect(error.message).toMatch(/already used/);
    expect(again.state.events).toEqual([]);
    // Second use from another process sharing VYAPARAI_DEPLOY_SECRET (a CLI next to the server).
    const cliCtx = contextFor(makeRuntime());
    await passPreflight(cliCtx);
    const fromCli = await rejectionOf(release(cliCtx, spec({ confirmationToken: token })));
    expect(fromCli.detail?.reason).toBe("already_used");
    expect(await bucketKeys()).toEqual(keys);
    expect(await marker()).toBe("v1");
  });

  it("two processes presenting one token at the same moment: exactly one runs", async () => {
    const serverCtx = contextFor(runtime);
    const cliCtx = contextFor(makeRuntime());
    await passPreflight(serverCtx);
    await passPreflight(cliCtx);
    const token = await tokenFor(serverCtx);
    const specs = [spec({ confirmationToken: token }), spec({ confirmationToken: token })];
    const outcomes = await Promise.allSettled([release(serverCtx, specs[0]), release(cliCtx, specs[1])]);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const loser = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected")!;
    expect((loser.reason as DeployError).detail?.reason).toBe("already_used");
    expect(specs.filter((s) => s.state.events.length > 0)).toHaveLength(1);
    expect((await bucketKeys()).filter((k) => k.startsWith("releases/"))).toHaveLength(1);
  });

  it("a plan that changed between plan and confirm is refused with the new plan and a new token", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const before = await bucketKeys();
    const changed = spec({ value: "v3", confirmationToken: token });
    const error = await rejectionOf(release(ctx, changed));
    expect(error).toBeInstanceOf(RefusalError);
    expect(error.message).toMatch(/plan changed since the confirmationToken was issued/);
    expect(error.detail).toEqual({
      status: "confirmation_required",
      reason: "plan_changed",
      plan: { key: MARKER_KEY, value: "v3" },
      planDigest: digestPlan({ key: MARKER_KEY, value: "v3" }),
      confirmationToken: expect.stringMatching(/^v1\./),
      expiresAt: "2026-11-25T13:10:00.000Z",
    });
    expect(changed.state.events).toEqual([]);
    expect(await bucketKeys()).toEqual(before);
    const run = finished(
      await release(ctx, spec({ value: "v3", confirmationToken: error.detail?.confirmationToken as string })),
    );
    expect(run).toMatchObject({
      status: "succeeded",
      planDigest: digestPlan({ key: MARKER_KEY, value: "v3" }),
    });
    expect(await marker()).toBe("v3");
  });

  it("an explicit planDigest (terraform's saved plan) is what the token confirms", async () => {
    const ctx = contextFor(runtime, { toolName: "terraform_apply" });
    const planDigest = "b".repeat(64);
    const issued = await issueConfirmationToken(ctx, { tool: "terraform_apply", planDigest });
    const run = finished(
      await release(
        ctx,
        spec({
          component: "infra",
          planDigest,
          requirePreflight: false,
          confirmationToken: issued.confirmationToken,
        }),
      ),
    );
    expect(run).toMatchObject({ status: "succeeded", planDigest });
    expect(await recordOf("prod", run.releaseId, "infra")).toMatchObject({
      planDigest,
      tool: "terraform_apply",
    });
    const other = await rejectionOf(
      release(
        ctx,
        spec({
          component: "infra",
          planDigest: "c".repeat(64),
          requirePreflight: false,
          confirmationToken: (await issueConfirmationToken(ctx, { tool: "terraform_apply", planDigest }))
            .confirmationToken,
        }),
      ),
    );
    expect(other.detail?.reason).toBe("plan_changed");
  });

  it("breakLock is part of what the token confirms: a token for the plain plan does not break a lock", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const other = await acquireDeployLock(
      { s3, bucket, envName: "prod", now: () => clock, log: () => {} },
      {
        holder: ARN,
        tool: "deploy_frontend",
        component: "frontend",
        releaseId: "20261125T125900000Z-aaaaaa",
        breakLock: false,
        ttlSeconds: DEFAULT_LOCK_TTL_SECONDS,
      },
    );
    const held = await readObject(s3, bucket, lockKey("prod"));
    const plainToken = await tokenFor(ctx);
    const error = await rejectionOf(release(ctx, spec({ breakLock: true, confirmationToken: plainToken })));
    expect(error.detail?.reason).toBe("plan_changed");
    expect(await readObject(s3, bucket, lockKey("prod"))).toEqual(held);

    // The token issued for breakLock does break it, and says so.
    const breakToken = error.detail?.confirmationToken as string;
    const run = finished(await release(ctx, spec({ breakLock: true, confirmationToken: breakToken })));
    expect(run.status).toBe("succeeded");
    expect(run.replacedLock).toMatchObject({
      releaseId: "20261125T125900000Z-aaaaaa",
      how: "broken",
      state: "live",
    });
    expect(await lockGone("prod")).toBe(true);
    // The broken holder's release finds someone else's lock (here: none) and deletes nothing.
    await other.release();
  });
});

describe("protected env: every bad token is refused with its reason and changes nothing", () => {
  const cases: Array<[string, (ctx: ToolContext) => Promise<string>]> = [
    ["malformed", async () => "not-a-token"],
    ["malformed", async () => `v1.${Buffer.from("{}").toString("base64url")}.${"A".repeat(43)}`],
    [
      "bad_signature",
      async (ctx) => {
        // Tampered: a later expiry written into the payload, the mac kept.
        const [v, payload, mac] = (await tokenFor(ctx)).split(".") as [string, string, string];
        const decoded = JSON.parse(Buffer.from(payload, "base64url").toString());
        decoded.exp += 3_600_000;
        return `${v}.${Buffer.from(JSON.stringify(decoded)).toString("base64url")}.${mac}`;
      },
    ],
    [
      "bad_signature",
      async (ctx) => {
        const token = await tokenFor(ctx);
        const last = token.at(-2) === "A" ? "B" : "A";
        return `${token.slice(0, -2)}${last}${token.at(-1)}`;
      },
    ],
    // Issued by a server with another secret.
    ["bad_signature", async () => tokenFor(contextFor(makeRuntime({ secret: "another-secret" })))],
    [
      "expired",
      async (ctx) => {
        const token = await tokenFor(ctx);
        clock = new Date(clock.getTime() + 10 * 60_000 + 1);
        return token;
      },
    ],
    ["other_tool", async (ctx) => tokenFor(overContext(ctx, { toolName: "deploy_frontend" }))],
    [
      "other_env",
      async (ctx) =>
        (
          await issueConfirmationToken(overContext(ctx, { envName: "staging" }), {
            tool: "deploy_lambda",
            planDigest: digestPlan({ key: MARKER_KEY, value: "v2" }),
          })
        ).confirmationToken,
    ],
    [
      "other_account",
      async (ctx) =>
        (
          await issueConfirmationToken(
            overContext(ctx, {
              identity: async () => ({
                account: "999999999999",
                arn: "arn:aws:iam::999999999999:user/x",
                userId: "x",
              }),
            }),
            { tool: "deploy_lambda", planDigest: digestPlan({ key: MARKER_KEY, value: "v2" }) },
          )
        ).confirmationToken,
    ],
    [
      "other_region",
      async (ctx) =>
        (
          await issueConfirmationToken(overContext(ctx, { env: { ...ctx.env, region: "eu-west-1" } }), {
            tool: "deploy_lambda",
            planDigest: digestPlan({ key: MARKER_KEY, value: "v2" }),
          })
        ).confirmationToken,
    ],
  ];

  it.each(cases)("%s", async (reason, make) => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await make(ctx);
    const before = await bucketKeys();
    const s = spec({ confirmationToken: token });
    const error = await rejectionOf(release(contextFor(runtime), s));
    expect(error).toBeInstanceOf(RefusalError);
    expect(error.detail?.reason).toBe(reason);
    expect(error.message).toMatch(
      new RegExp(`Refused \\(${reason}\\).*without confirmationToken.*Nothing was changed`),
    );
    expect(s.state.events).toEqual([]);
    expect(await bucketKeys()).toEqual(before);
    expect(before).toEqual([MARKER_KEY]);
    expect(await marker()).toBe("v1");
  });

  it("a missing token is reported as missing by the verifier", async () => {
    const check = await verifyConfirmationToken(contextFor(runtime), {
      tool: "deploy_lambda",
      planDigest: digestPlan({ key: MARKER_KEY, value: "v2" }),
      token: undefined,
    });
    expect(check).toMatchObject({ ok: false, reason: "missing" });
  });

  it("credentials for another account than the env's accountId are refused before any token", async () => {
    runtime = makeRuntime({
      config: { environments: { prod: { accountId: "111111111111", lambda: { artifactBucket: bucket } } } },
    });
    const error = await rejectionOf(release(contextFor(runtime)));
    expect(error.detail?.reason).toBe("other_account");
    expect(error.message).toMatch(/belongs to AWS account 111111111111.*123456789012/);
    expect(await bucketKeys()).toEqual([MARKER_KEY]);
  });
});

describe("protected env: a person approves", () => {
  function asking(answer: ApprovalAnswer | Error, asked: ApprovalRequest[]) {
    return async (req: ApprovalRequest): Promise<ApprovalAnswer> => {
      asked.push(req);
      if (answer instanceof Error) throw answer;
      return answer;
    };
  }

  it.each([
    ["decline", "declined", /The user declined deploy_lambda on "prod"; nothing was changed\./],
    ["cancel", "cancelled", /The user cancelled deploy_lambda on "prod"; nothing was changed\./],
  ] as const)("%s aborts with nothing changed", async (answer, reason, message) => {
    const asked: ApprovalRequest[] = [];
    const ctx = contextFor(runtime, { askPerson: asking(answer, asked) });
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const error = await rejectionOf(release(ctx, spec({ confirmationToken: token })));
    expect(error.detail?.reason).toBe(reason);
    expect(error.message).toMatch(message);
    expect(asked).toHaveLength(1);
    expect(asked[0]?.message).toContain('Approve deploy_lambda on PROTECTED env "prod"');
    expect(asked[0]?.message).toContain(`Switch ${MARKER_KEY} to v2.`);
    // Nothing at all: not even the token is spent.
    expect(await bucketKeys()).toEqual([MARKER_KEY]);
  });

  it("accept proceeds; a breakLock call tells the person it breaks a lock", async () => {
    const asked: ApprovalRequest[] = [];
    const ctx = contextFor(runtime, { askPerson: asking("accept", asked) });
    await passPreflight(ctx);
    const run = finished(await release(ctx, spec({ confirmationToken: await tokenFor(ctx) })));
    expect(run.status).toBe("succeeded");
    expect(asked).toHaveLength(1);
    expect(asked[0]?.message).not.toMatch(/breakLock/);
    await release(
      ctx,
      spec({ breakLock: true, confirmationToken: await tokenFor(ctx, { breakLock: true }) }),
    );
    expect(asked[1]?.message).toMatch(/BREAKS the deploy lock of another deploy.*\(breakLock\)/);
  });

  it("a question that fails is not an approval", async () => {
    const ctx = contextFor(runtime, { askPerson: asking(new Error("client went away"), []) });
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const error = await rejectionOf(release(ctx, spec({ confirmationToken: token })));
    expect(error.detail?.reason).toBe("approval_failed");
    expect(await bucketKeys()).toEqual([MARKER_KEY]);
  });

  it("requireElicitation refuses when the client cannot ask (without it the token alone stands, as above)", async () => {
    runtime = makeRuntime({ config: { requireElicitation: true } });
    repo.commitAll("require elicitation");
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const error = await rejectionOf(release(ctx, spec({ confirmationToken: token })));
    expect(error.detail?.reason).toBe("approval_unavailable");
    expect(error.message).toMatch(/requireElicitation is true/);
    expect(await bucketKeys()).toEqual([MARKER_KEY]);
  });
});

describe("protected env: tests first", () => {
  async function attempt(ctx: ToolContext) {
    const token = await tokenFor(ctx);
    return rejectionOf(release(ctx, spec({ confirmationToken: token })));
  }

  it("refuses without any preflight", async () => {
    const error = await attempt(contextFor(runtime));
    expect(error.detail?.reason).toBe("no_preflight");
    expect(error.message).toMatch(/Tests first: no preflight has been run for env "prod"; run preflight/);
    expect(await bucketKeys()).toEqual([MARKER_KEY]);
  });

  it("refuses a dirty tree even with a passing preflight, naming the files", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    repo.dirty("backend/app/main.py");
    const error = await attempt(ctx);
    expect(error.detail?.reason).toBe("tree_dirty");
    expect(error.message).toMatch(/working tree has 1 uncommitted file\(s\) \(listed in dirtyFiles;/);
    expect(error.message).not.toContain("main.py");
    expect(error.detail?.dirtyFiles).toEqual(["backend/app/main.py"]);
    expect(await bucketKeys()).toEqual([MARKER_KEY]);
  });

  it("refuses a preflight older than preflightMaxAgeMinutes", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx, { at: new Date(clock.getTime() - 31 * 60_000).toISOString() });
    const error = await attempt(ctx);
    expect(error.detail?.reason).toBe("preflight_too_old");
    expect(error.message).toMatch(
      /preflight is 31 min old \(max 30 min, preflightMaxAgeMinutes\); run preflight again/,
    );
  });

  it("refuses a failed preflight, one for another commit, and one of other components", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx, { ok: false });
    expect((await attempt(ctx)).detail?.reason).toBe("preflight_failed");
    await passPreflight(ctx);
    repo.write("backend/app/extra.py", "x = 1\n");
    repo.commitAll("new commit");
    expect((await attempt(ctx)).detail?.reason).toBe("preflight_other_sha");
    await passPreflight(ctx, { components: ["frontend"] });
    const error = await attempt(ctx);
    expect(error.detail?.reason).toBe("preflight_other_components");
    expect(error.message).toMatch(/checked frontend, not backend/);
    expect((await bucketKeys()).filter((k) => !k.startsWith("tokens/"))).toEqual([MARKER_KEY]);
  });

  it("passes with a preflight recorded by another process (the CLI honours the file under .git)", async () => {
    await passPreflight(contextFor(makeRuntime()));
    const ctx = contextFor(runtime);
    expect(runtime.session.preflights.size).toBe(0);
    const run = finished(await release(ctx, spec({ confirmationToken: await tokenFor(ctx) })));
    expect(run.status).toBe("succeeded");
  });

  it("is skipped for releases that do not require it (rollback, apply)", async () => {
    const ctx = contextFor(runtime, { toolName: "rollback" });
    const token = await tokenFor(ctx, { requirePreflight: false });
    const run = finished(await release(ctx, spec({ requirePreflight: false, confirmationToken: token })));
    expect(run.status).toBe("succeeded");
  });
});

describe("failures: what is undone, what the record says, the lock released", () => {
  const dev = () => contextFor(runtime, { envName: "dev" });

  it("a step failing before any step touched live state: failed, no undo, marker unchanged", async () => {
    const s = spec({
      before(step) {
        if (step === "upload") throw new Error("upload failed for key AKIAIOSFODNN7EXAMPLE");
      },
    });
    const run = finished(await release(dev(), s));
    expect(run).toMatchObject({
      status: "failed",
      cancelled: false,
      phase: "uploading",
      failure: { step: "upload", message: "upload failed for key [REDACTED]" },
      live: { marker: "v1" },
    });
    expect(run.undo).toBeUndefined();
    expect(s.state.events).toEqual(["prepare", "upload"]);
    expect(await marker()).toBe("v1");
    const record = await recordOf("dev", run.releaseId);
    expect(record).toMatchObject({
      status: "failed",
      // Outside text in the record is redacted on the way to S3.
      error: "upload: upload failed for key [REDACTED]",
      after: { marker: "v1" },
      finishedAt: "2026-11-25T13:00:00.000Z",
    });
    expect((record.journal as Array<{ phase: string }>).map((j) => j.phase)).toEqual([
      "locked",
      "preparing",
      "uploading",
    ]);
    expect(await lockGone("dev")).toBe(true);
  });

  it("a failing health gate is undone: rolled_back, marker restored (read back)", async () => {
    const s = spec({
      verify: async () => ({ ok: false, reason: "GET / answered 503", report: { status: 503 } }),
    });
    const run = finished(await release(dev(), s));
    expect(run).toMatchObject({
      status: "rolled_back",
      phase: "undoing",
      failure: { step: "health-check", message: "GET / answered 503" },
      verification: { ok: false, reason: "GET / answered 503" },
      undo: { ok: true, result: "undone", attempts: 1 },
      live: { marker: "v1" },
    });
    expect(s.state.events).toEqual(["prepare", "upload", "switch", "health-check", "undo#1"]);
    expect(await marker()).toBe("v1");
    const record = await recordOf("dev", run.releaseId);
    expect(record).toMatchObject({
      status: "rolled_back",
      error: "health-check: GET / answered 503",
      health: { status: 503 },
      before: { marker: "v1" },
      after: { marker: "v1" },
    });
    expect((record.journal as Array<{ phase: string }>).map((j) => j.phase)).toEqual([
      "locked",
      "preparing",
      "uploading",
      "switching",
      "verifying",
      "undoing",
    ]);
    expect(await lockGone("dev")).toBe(true);
  });

  it("a health gate that cannot finish within its deadline counts as failed and is undone", async () => {
    const s = spec({
      verifyDeadlineMs: 200,
      verify: (_state, io) =>
        new Promise((_resolve, reject) =>
          io.signal.addEventListener("abort", () => reject(new Error("aborted"))),
        ),
    });
    const run = finished(await release(dev(), s));
    expect(run.status).toBe("rolled_back");
    expect(run.failure).toEqual({
      step: "health-check",
      message: "Step health-check did not finish within its 200 ms deadline.",
    });
    expect(await marker()).toBe("v1");
  });

  it("a step that touches live state and then fails is undone", async () => {
    const s = spec({
      after(step) {
        if (step === "switch") throw new Error("switched, then the answer was lost");
      },
    });
    const run = finished(await release(dev(), s));
    expect(run).toMatchObject({
      status: "rolled_back",
      failure: { step: "switch" },
      undo: { ok: true, result: "undone" },
    });
    expect(s.state.events).toEqual(["prepare", "upload", "switch", "undo#1"]);
    expect(await marker()).toBe("v1");
  });

  it("an undo that finds the previous release still live reports nothing_to_undo: failed, not rolled_back", async () => {
    const s = spec({
      before(step) {
        if (step === "switch") throw new Error("could not switch");
      },
    });
    const run = finished(await release(dev(), s));
    expect(run).toMatchObject({
      status: "failed",
      failure: { step: "switch", message: "could not switch" },
      undo: { ok: true, result: "nothing_to_undo", attempts: 1 },
      live: { marker: "v1" },
    });
    expect(await recordOf("dev", run.releaseId)).toMatchObject({ status: "failed" });
  });

  it("a step past its deadline fails (and is undone when it touched live state)", async () => {
    const s = spec({
      deadlines: { switch: 300 },
      after: (step, io) =>
        step === "switch"
          ? new Promise((_resolve, reject) =>
              io.signal.addEventListener("abort", () => reject(io.signal.reason)),
            )
          : undefined,
    });
    const run = finished(await release(dev(), s));
    expect(run).toMatchObject({
      status: "rolled_back",
      failure: { step: "switch", message: "Step switch did not finish within its 300 ms deadline." },
    });
    expect(await marker()).toBe("v1");
  });

  it("an undo that fails twice and then succeeds within the budget: rolled_back", async () => {
    const progress: string[] = [];
    const s = spec({ verify: async () => ({ ok: false, reason: "unhealthy" }), undo: { failures: 2 } });
    const run = finished(
      await release(contextFor(runtime, { envName: "dev", progress: (m) => progress.push(m) }), s),
    );
    expect(run).toMatchObject({ status: "rolled_back", undo: { ok: true, result: "undone", attempts: 3 } });
    expect(s.state.events.slice(-3)).toEqual(["undo#1", "undo#2", "undo#3"]);
    expect(progress.filter((m) => /^Undo attempt \d failed/.test(m))).toHaveLength(2);
    expect(await marker()).toBe("v1");
    expect(await recordOf("dev", run.releaseId)).toMatchObject({
      status: "rolled_back",
      after: { marker: "v1" },
    });
    expect(await lockGone("dev")).toBe(true);
  });

  it("an undo that always fails: failed, undo.ok false with the fix command, the truth about what is live", async () => {
    const started = Date.now();
    const s = spec({
      verify: async () => ({ ok: false, reason: "unhealthy" }),
      undo: { failures: "always" },
    });
    const run = finished(await release(dev(), s));
    expect(Date.now() - started).toBeGreaterThanOrEqual(UNDO_BUDGET_SECONDS * 1000 - 500);
    expect(run).toMatchObject({
      status: "failed",
      failure: { step: "health-check", message: "unhealthy" },
      undo: {
        ok: false,
        attempts: expect.any(Number),
        error: expect.stringMatching(
          /^restore attempt \d+ failed \(gave up after \d+ attempt\(s\) in 3 s\)$/,
        ),
        fixCommand: `aws s3 cp - s3://${bucket}/${MARKER_KEY} <<< 'v1'`,
      },
      // The new release is what serves: the answer says so instead of assuming the old one.
      live: { marker: "v2" },
    });
    expect(run.undo?.attempts).toBeGreaterThan(1);
    expect(run.undo?.result).toBeUndefined();
    expect(await marker()).toBe("v2");
    const record = await recordOf("dev", run.releaseId);
    expect(record).toMatchObject({ status: "failed", after: { marker: "v2" } });
    expect(record.error).toMatch(/^health-check: unhealthy; undo failed: restore attempt \d+ failed/);
    expect(await lockGone("dev")).toBe(true);
  });

  it("a failure after the switch in a spec without undo stays failed and reports the new release live", async () => {
    const s = spec({ verify: async () => ({ ok: false, reason: "unhealthy" }), undo: false });
    const run = finished(await release(dev(), s));
    expect(run).toMatchObject({ status: "failed", live: { marker: "v2" } });
    expect(run.undo).toBeUndefined();
    expect(await marker()).toBe("v2");
  });

  it("a failed cleanup step is a warning: the release stays succeeded", async () => {
    const s = spec({
      before(step) {
        if (step === "tidy") throw new Error("DeleteObject throttled");
      },
    });
    const run = finished(await release(dev(), s));
    expect(run.status).toBe("succeeded");
    expect(run.warnings).toEqual(["tidy failed after the release went live: DeleteObject throttled"]);
    expect(await recordOf("dev", run.releaseId)).toMatchObject({
      status: "succeeded",
      warnings: ["tidy failed after the release went live: DeleteObject throttled"],
    });
    expect(await marker()).toBe("v2");
  });
});

describe("cancellation", () => {
  function cancellable() {
    const controller = new AbortController();
    return { controller, ctx: contextFor(runtime, { envName: "dev", signal: controller.signal }) };
  }
  /** What a step sees from the SDK once its signal aborts. */
  const abortError = () => Object.assign(new Error("Request aborted"), { name: "AbortError" });

  it("a cancel while a live-touching step runs: the undo still runs, the record is final, the lock released", async () => {
    const { controller, ctx } = cancellable();
    const s = spec({
      after(step) {
        if (step !== "switch") return;
        controller.abort();
        throw abortError();
      },
    });
    const run = finished(await release(ctx, s));
    expect(run).toMatchObject({
      status: "rolled_back",
      cancelled: true,
      failure: { step: "switch", message: "Cancelled during step switch." },
      undo: { ok: true, result: "undone" },
      live: { marker: "v1" },
    });
    expect(await marker()).toBe("v1");
    expect(await recordOf("dev", run.releaseId)).toMatchObject({
      status: "rolled_back",
      finishedAt: expect.any(String),
    });
    expect(await lockGone("dev")).toBe(true);
  });

  it("a cancel before live state was touched: failed, no further step, no undo, marker unchanged", async () => {
    const { controller, ctx } = cancellable();
    const s = spec({
      after(step) {
        // A step that finishes its work although the call was cancelled meanwhile.
        if (step === "upload") controller.abort();
      },
    });
    const run = finished(await release(ctx, s));
    expect(run).toMatchObject({ status: "failed", cancelled: true, failure: { step: "switch" } });
    expect(run.undo).toBeUndefined();
    expect(s.state.events).toEqual(["prepare", "upload"]);
    expect(await marker()).toBe("v1");
    expect(await recordOf("dev", run.releaseId)).toMatchObject({ status: "failed" });
    expect(await lockGone("dev")).toBe(true);
  });

  it("a call cancelled before it starts changes nothing", async () => {
    const { controller, ctx } = cancellable();
    controller.abort();
    const s = spec();
    const error = await rejectionOf(release(ctx, s));
    expect(error).toBeInstanceOf(CancelledError);
    expect(s.state.events).toEqual([]);
    expect(await bucketKeys()).toEqual([MARKER_KEY]);
  });
});

describe("the deploy lock around a release", () => {
  const lockDeps = (envName: string) => ({ s3, bucket, envName, now: () => clock, log: () => {} });
  const takeLock = (envName: string, releaseId: string) =>
    acquireDeployLock(lockDeps(envName), {
      holder: ARN,
      tool: "deploy_frontend",
      component: "frontend",
      releaseId,
      breakLock: false,
      ttlSeconds: DEFAULT_LOCK_TTL_SECONDS,
    });

  it("a live lock refuses the release: LOCK_HELD, no record, marker and lock unchanged", async () => {
    const other = await takeLock("dev", "20261125T125900000Z-aaaaaa");
    const held = await readObject(s3, bucket, lockKey("dev"));
    const s = spec();
    const error = await rejectionOf(release(contextFor(runtime, { envName: "dev" }), s));
    expect(error.code).toBe("LOCK_HELD");
    expect(error.detail).toMatchObject({
      reason: "lock_held",
      lock: { releaseId: "20261125T125900000Z-aaaaaa" },
    });
    expect(s.state.events).toEqual([]);
    expect((await bucketKeys()).filter((k) => k.startsWith("releases/"))).toEqual([]);
    expect(await readObject(s3, bucket, lockKey("dev"))).toEqual(held);
    expect(await marker()).toBe("v1");
    await other.release();
  });

  it("an expired lock is taken over without breakLock, and the answer says so", async () => {
    await takeLock("dev", "20261125T125000000Z-dead00");
    clock = new Date(clock.getTime() + (DEFAULT_LOCK_TTL_SECONDS + 1) * 1000);
    const run = finished(await release(contextFor(runtime, { envName: "dev" })));
    expect(run.status).toBe("succeeded");
    expect(run.replacedLock).toMatchObject({
      releaseId: "20261125T125000000Z-dead00",
      state: "expired",
      how: "taken_over",
    });
    expect(run.warnings).toContain(
      "Took over the expired deploy lock left by release 20261125T125000000Z-dead00.",
    );
    expect(await lockGone("dev")).toBe(true);
  });

  it("breakLock on an unprotected env breaks a live lock directly", async () => {
    const other = await takeLock("dev", "20261125T125900000Z-bbbbbb");
    const run = finished(await release(contextFor(runtime, { envName: "dev" }), spec({ breakLock: true })));
    expect(run.status).toBe("succeeded");
    expect(run.replacedLock).toMatchObject({ how: "broken", releaseId: "20261125T125900000Z-bbbbbb" });
    expect(await lockGone("dev")).toBe(true);
    await other.release();
    expect(await lockGone("dev")).toBe(true);
  });

  describe("heartbeat", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("keeps the lock fresh so it never looks expired while a long step runs", async () => {
      vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
      const everyMs = (DEFAULT_LOCK_TTL_SECONDS * 1000) / 4;
      const s = spec({
        async after(step) {
          if (step !== "upload") return;
          // Ten minutes of work (five TTLs), in heartbeat steps of the injected clock and the timer.
          for (let elapsed = 0; elapsed < 10 * 60_000; elapsed += everyMs) {
            clock = new Date(clock.getTime() + everyMs);
            const expected = new Date(clock.getTime() + DEFAULT_LOCK_TTL_SECONDS * 1000).toISOString();
            vi.advanceTimersByTime(everyMs);
            await vi.waitFor(
              async () => expect((await readDeployLock(lockDeps("dev")))?.expiresAt).toBe(expected),
              { timeout: 10_000 },
            );
            expect((await readDeployLock(lockDeps("dev")))?.state).toBe("live");
          }
        },
      });
      const started = clock.getTime();
      const run = finished(await release(contextFor(runtime, { envName: "dev" }), s));
      expect(run.status).toBe("succeeded");
      expect(clock.getTime() - started).toBeGreaterThan(DEFAULT_LOCK_TTL_SECONDS * 1000);
      expect(await lockGone("dev")).toBe(true);
    });

    it("a lock taken by another call meanwhile stops the release before its next step and is left in place", async () => {
      vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
      const logs: string[] = [];
      let foreign: { body: string; etag: string | undefined } | null = null;
      const s = spec({
        async after(step) {
          if (step !== "upload") return;
          const ours = JSON.parse((await readObject(s3, bucket, lockKey("dev")))!.body);
          await putText(s3, bucket, lockKey("dev"), JSON.stringify({ ...ours, nonce: "c".repeat(32) }));
          foreign = await readObject(s3, bucket, lockKey("dev"));
          vi.advanceTimersByTime((DEFAULT_LOCK_TTL_SECONDS * 1000) / 4);
          await vi.waitFor(() => expect(logs.some((m) => /was taken by another call/.test(m))).toBe(true), {
            timeout: 10_000,
          });
        },
      });
      const ctx = contextFor(runtime, { envName: "dev", log: (_level, m) => logs.push(m) });
      const run = finished(await release(ctx, s));
      expect(run).toMatchObject({
        status: "failed",
        failure: { step: "switch", message: expect.stringMatching(/deploy lock was taken by another call/) },
      });
      expect(s.state.events).toEqual(["prepare", "upload"]);
      expect(await marker()).toBe("v1");
      // Not ours any more: never deleted.
      expect(await readObject(s3, bucket, lockKey("dev"))).toEqual(foreign);
    });
  });
});

describe("interrupted releases are recovered before a new one runs", () => {
  const EARLIER = new Date("2026-11-25T12:50:00.000Z");

  async function plantInterrupted(env = "dev", component: Component = "lambda"): Promise<ReleaseRecord> {
    const record = releaseRecordSchema.parse({
      releaseId: newReleaseId(EARLIER),
      env,
      component,
      tool: "deploy_lambda",
      status: "in_progress",
      who: ARN,
      gitSha: null,
      startedAt: EARLIER.toISOString(),
      finishedAt: null,
      planDigest: "a".repeat(64),
      phase: "switching",
      journal: [
        { phase: "locked", at: EARLIER.toISOString() },
        { phase: "switching", at: EARLIER.toISOString() },
      ],
      recoveryPlan: "Read the marker and keep or restore it.",
      before: { marker: "v0" },
    });
    await writeReleaseRecord(s3, bucket, record);
    return record;
  }

  function recoverers(
    outcome: "kept" | "restored" | "nothing_changed" | "unresolved",
    seen: Array<{ record: ReleaseRecord; io: RecoveryIo }>,
  ): Recoverers {
    return {
      async lambda(record, io) {
        seen.push({ record, io });
        if (outcome === "restored") await putText(s3, bucket, MARKER_KEY, "v0");
        return { outcome, note: `recovered by the test (${outcome})`, after: { marker: await marker() } };
      },
    };
  }

  it("an in_progress record with no lock is settled first (recovered, read back), then the new release runs", async () => {
    const old = await plantInterrupted();
    const seen: Array<{ record: ReleaseRecord; io: RecoveryIo }> = [];
    const s = spec();
    const atRecovery: Record<string, unknown> = {};
    const recoverKept = recoverers("kept", seen);
    const run = finished(
      await release(contextFor(runtime, { envName: "dev" }), s, {
        async lambda(record, io) {
          // Before the new release: none of its steps ran, it has no record yet, it holds the lock.
          atRecovery.events = [...s.state.events];
          atRecovery.records = await listKeys(s3, bucket, "releases/");
          atRecovery.lock = await readDeployLock({ s3, bucket, envName: "dev", now: () => clock });
          return recoverKept.lambda!(record, io);
        },
      }),
    );
    expect(atRecovery).toEqual({
      events: [],
      records: [`releases/dev/lambda/${old.releaseId}.json`],
      lock: expect.objectContaining({ releaseId: run.releaseId, state: "live" }),
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.record).toEqual(old);
    expect(seen[0]?.io.undoBudgetMs).toBe(UNDO_BUDGET_SECONDS * 1000);
    expect(run.status).toBe("succeeded");
    expect(run.recovered).toEqual([
      {
        releaseId: old.releaseId,
        component: "lambda",
        tool: "deploy_lambda",
        phase: "switching",
        outcome: "kept",
        note: "recovered by the test (kept)",
      },
    ]);
    expect(await recordOf("dev", old.releaseId)).toMatchObject({
      status: "recovered",
      finishedAt: clock.toISOString(),
      after: { marker: "v1" },
      recovery: {
        outcome: "kept",
        by: run.releaseId,
        at: clock.toISOString(),
        note: "recovered by the test (kept)",
      },
    });
    expect(s.state.events).toEqual(["prepare", "upload", "switch", "health-check", "tidy"]);
    expect(await marker()).toBe("v2");
    expect(await lockGone("dev")).toBe(true);
  });

  it("a dead release's expired lock is taken over and its record recovered in the same call", async () => {
    const old = await plantInterrupted();
    await acquireDeployLock(
      { s3, bucket, envName: "dev", now: () => EARLIER, log: () => {} },
      {
        holder: ARN,
        tool: "deploy_lambda",
        component: "lambda",
        releaseId: old.releaseId,
        breakLock: false,
        ttlSeconds: DEFAULT_LOCK_TTL_SECONDS,
      },
    );
    const seen: Array<{ record: ReleaseRecord; io: RecoveryIo }> = [];
    const run = finished(
      await release(contextFor(runtime, { envName: "dev" }), spec(), recoverers("kept", seen)),
    );
    expect(run.replacedLock).toMatchObject({ releaseId: old.releaseId, how: "taken_over", state: "expired" });
    expect(run.recovered.map((r) => r.releaseId)).toEqual([old.releaseId]);
    expect((await recordOf("dev", old.releaseId)).status).toBe("recovered");
    expect(await lockGone("dev")).toBe(true);
  });

  it("a recovery that restored the previous release stops a spec without replan at step replan, marker as recovered", async () => {
    const old = await plantInterrupted();
    const seen: Array<{ record: ReleaseRecord; io: RecoveryIo }> = [];
    const s = spec();
    const run = finished(
      await release(contextFor(runtime, { envName: "dev" }), s, recoverers("restored", seen)),
    );
    expect(run).toMatchObject({
      status: "failed",
      phase: "locked",
      live: { marker: "v0" },
      failure: {
        step: "replan",
        message: expect.stringMatching(/approved plan no longer fits; nothing else was changed/),
      },
      recovered: [{ releaseId: old.releaseId, outcome: "restored" }],
    });
    expect(s.state.events).toEqual([]);
    // What the recovery put back, and nothing of this release.
    expect(await marker()).toBe("v0");
    expect(await recordOf("dev", old.releaseId)).toMatchObject({
      status: "recovered",
      recovery: { outcome: "restored", by: run.releaseId },
    });
    expect((await bucketKeys()).filter((k) => k.startsWith("releases/"))).toEqual([
      `releases/dev/lambda/${old.releaseId}.json`,
    ]);
    expect(await lockGone("dev")).toBe(true);
  });

  it("after a restoring recovery, a replan with the same plan goes ahead on a protected env", async () => {
    await plantInterrupted("prod");
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const replanned = spec();
    const first = spec({ confirmationToken: token, replan: async () => replanned });
    const run = finished(await release(ctx, first, recoverers("restored", [])));
    expect(run.status).toBe("succeeded");
    expect(first.state.events).toEqual([]);
    expect(replanned.state.events).toEqual(["prepare", "upload", "switch", "health-check", "tidy"]);
    expect(await marker()).toBe("v2");
    expect(await recordOf("prod", run.releaseId)).toMatchObject({
      status: "succeeded",
      before: { marker: "v0" },
    });
  });

  it("after a restoring recovery, a replan with a different plan is refused on a protected env", async () => {
    await plantInterrupted("prod");
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const replanned = spec({ value: "v9" });
    const run = finished(
      await release(
        ctx,
        spec({ confirmationToken: token, replan: async () => replanned }),
        recoverers("restored", []),
      ),
    );
    expect(run).toMatchObject({
      status: "failed",
      failure: { step: "replan" },
      live: { marker: "v0" },
    });
    expect(replanned.state.events).toEqual([]);
    expect(await marker()).toBe("v0");
    expect(await lockGone("prod")).toBe(true);
  });

  it("after a restoring recovery, a replan that finds nothing left to do finishes without changing anything", async () => {
    await plantInterrupted();
    const s = spec({ replan: async () => null });
    const run = finished(
      await release(contextFor(runtime, { envName: "dev" }), s, recoverers("restored", [])),
    );
    expect(run).toMatchObject({
      status: "succeeded",
      // What is live is read back, not left unknown.
      live: { marker: "v0" },
      warnings: ["Recovering the interrupted release(s) left nothing else to change."],
    });
    expect(s.state.events).toEqual([]);
    expect(await marker()).toBe("v0");
  });

  it("a recovery that throws stops the new release: nothing else runs, the old record stays in_progress, the lock is released", async () => {
    const old = await plantInterrupted();
    const s = spec();
    const error = await rejectionOf(
      release(contextFor(runtime, { envName: "dev" }), s, {
        lambda: async () => {
          throw new Error("GetAlias timed out");
        },
      }),
    );
    expect(error.code).toBe("TOOL_FAILED");
    expect(error.message).toMatch(
      new RegExp(
        `Release ${old.releaseId} \\(lambda\\) was interrupted in phase switching and could not be recovered: An unexpected Error occurred\\.`,
      ),
    );
    // What the error said and the recorded plan (read back from S3) are data, not message.
    expect(error.message).not.toContain("GetAlias timed out");
    expect(error.detail).toMatchObject({
      releaseId: old.releaseId,
      recoveryError: "GetAlias timed out",
      recoveryPlan: "Read the marker and keep or restore it.",
    });
    expect(s.state.events).toEqual([]);
    expect((await recordOf("dev", old.releaseId)).status).toBe("in_progress");
    expect(await marker()).toBe("v1");
    expect(await lockGone("dev")).toBe(true);
  });

  it("a component without a recoverer is settled as unresolved, and the new release runs", async () => {
    const old = await plantInterrupted("dev", "frontend");
    const run = finished(await release(contextFor(runtime, { envName: "dev" })));
    expect(run.status).toBe("succeeded");
    expect(run.recovered).toMatchObject([
      { releaseId: old.releaseId, component: "frontend", outcome: "unresolved" },
    ]);
    expect(await recordOf("dev", old.releaseId, "frontend")).toMatchObject({
      status: "recovered",
      recovery: {
        outcome: "unresolved",
        note: expect.stringMatching(/No automatic recovery exists for frontend/),
      },
    });
  });
});

describe("record writes that fail", () => {
  /** A dev context whose S3 client refuses PutObject on release records once `failing()` says so. */
  function contextWithFailingRecords(failing: (body: Record<string, unknown>) => boolean) {
    const writes: string[] = [];
    const faulty = interceptS3(s3, (command, send) => {
      if (command.name !== "PutObjectCommand" || !command.input.Key?.startsWith("releases/"))
        return undefined;
      const body = JSON.parse(String(command.input.Body)) as Record<string, unknown>;
      writes.push(`${body.status}:${body.phase}`);
      return failing(body) ? Promise.reject(internalError()) : send();
    });
    const logs: string[] = [];
    const base = runtime.clientsFor("dev");
    const ctx = contextFor(runtime, {
      envName: "dev",
      aws: { ...base, s3: async () => faulty },
      log: (_level, m) => logs.push(m),
    });
    return { ctx, writes, logs };
  }

  it("the final record failing to write: the run still returns, with a warning naming the record", async () => {
    const { ctx, writes } = contextWithFailingRecords((body) => body.status !== "in_progress");
    const run = finished(await release(ctx));
    expect(run.status).toBe("succeeded");
    const key = `releases/dev/lambda/${run.releaseId}.json`;
    expect(run.warnings).toEqual([
      expect.stringContaining(`The final release record ${key} could not be written`),
    ]);
    expect(run.warnings[0]).toMatch(/it still says in_progress/);
    // Retried within its budget before it gave up.
    expect(writes.filter((w) => w.startsWith("succeeded")).length).toBeGreaterThan(1);
    expect(await recordOf("dev", run.releaseId)).toMatchObject({ status: "in_progress", phase: "finishing" });
    expect(await marker()).toBe("v2");
    expect(await lockGone("dev")).toBe(true);
  }, 30_000);

  it("a journal write that fails before the switch: the switch never runs", async () => {
    const { ctx } = contextWithFailingRecords(
      (body) => body.status === "in_progress" && body.phase === "switching",
    );
    const s = spec();
    const run = finished(await release(ctx, s));
    expect(run).toMatchObject({
      status: "failed",
      failure: {
        step: "switch",
        message: expect.stringMatching(
          /release record could not be written before phase switching.*step was not started/,
        ),
      },
    });
    expect(run.undo).toBeUndefined();
    expect(s.state.events).toEqual(["prepare", "upload"]);
    expect(await marker()).toBe("v1");
    expect(await recordOf("dev", run.releaseId)).toMatchObject({ status: "failed" });
    expect(await lockGone("dev")).toBe(true);
  }, 30_000);
});

/** Regressions: edges of the flow found by these tests and fixed in src/release. */
describe("edges of the flow", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // A cancel during cleanup must not cost the live release its final record or its answer.
  it("a cancel during cleanup still returns a finished run and writes the final record", async () => {
    const controller = new AbortController();
    const ctx = contextFor(runtime, { envName: "dev", signal: controller.signal });
    let releaseId = "";
    const s = spec({
      after(step, io) {
        releaseId = io.releaseId;
        if (step !== "tidy") return;
        controller.abort();
        throw Object.assign(new Error("Request aborted"), { name: "AbortError" });
      },
    });
    const outcome = await release(ctx, s).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    expect(await marker()).toBe("v2");
    expect(await lockGone("dev")).toBe(true);
    expect((await recordOf("dev", releaseId)).status).toBe("succeeded");
    expect(outcome).toMatchObject({ result: { kind: "finished", status: "succeeded", cancelled: true } });
  });

  // After recovery an unprotected env runs the replanned spec: the record names the plan that ran.
  it("after a restoring recovery on an unprotected env, the record carries the digest of the plan that ran", async () => {
    const earlier = new Date("2026-11-25T12:00:00.000Z");
    await writeReleaseRecord(
      s3,
      bucket,
      releaseRecordSchema.parse({
        releaseId: newReleaseId(earlier),
        env: "dev",
        component: "lambda",
        tool: "deploy_lambda",
        status: "in_progress",
        who: null,
        gitSha: null,
        startedAt: earlier.toISOString(),
        finishedAt: null,
        planDigest: "a".repeat(64),
      }),
    );
    const replanned = spec({ value: "v9" });
    const run = finished(
      await release(contextFor(runtime, { envName: "dev" }), spec({ replan: async () => replanned }), {
        lambda: async () => ({ outcome: "restored", note: "restored by the test" }),
      }),
    );
    expect(run.status).toBe("succeeded");
    expect(await marker()).toBe("v9");
    const ran = digestPlan(replanned.plan);
    expect((await recordOf("dev", run.releaseId)).planDigest).toBe(ran);
    expect(run.planDigest).toBe(ran);
  });

  // A heartbeat refresh landing between release()'s read and its conditional delete changes the
  // ETag; the release reads back and retries, so the lock never stays behind.
  it("a heartbeat refresh in flight when the release ends does not leave the lock behind", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    let held: Promise<unknown> | null = null;
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let releasing = false;
    const slow = interceptS3(s3, (command, send) => {
      if (command.input.Key !== lockKey("dev")) return undefined;
      // The refresh (a conditional put on our ETag) is slow to arrive...
      if (command.name === "PutObjectCommand" && command.input.IfMatch && !held) {
        held = gate.then(send);
        return held;
      }
      // ...and lands just after release() read the lock, before its delete.
      if (command.name === "GetObjectCommand" && releasing) {
        releasing = false;
        return send().then(async (out) => {
          open();
          await held;
          return out;
        });
      }
      return undefined;
    });
    const ctx = contextFor(runtime, {
      envName: "dev",
      aws: { ...runtime.clientsFor("dev"), s3: async () => slow },
    });
    const s = spec({
      verify: false,
      cleanup: false,
      async after(step) {
        if (step !== "switch") return;
        clock = new Date(clock.getTime() + 30_000);
        vi.advanceTimersByTime((DEFAULT_LOCK_TTL_SECONDS * 1000) / 4);
        await vi.waitFor(() => expect(held).not.toBeNull());
        releasing = true;
      },
    });
    const run = finished(await release(ctx, s));
    expect(run.status).toBe("succeeded");
    expect(run.warnings).toEqual([]);
    expect(await lockGone("dev")).toBe(true);
  });
});
