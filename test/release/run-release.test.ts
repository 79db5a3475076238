import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApprovalAnswer, ApprovalRequest } from "../../src/core/context.js";
import { CancelledError, type DeployError, RefusalError, throwIfAborted } from "../../src/core/errors.js";
import type { ToolContext } from "../../src/release/context.js";
import {
  acquireDeployLock,
  LOCK_REFRESH_MS,
  LOCK_TTL_MINUTES,
  readDeployLock,
} from "../../src/release/lock.js";
import { digestPlan } from "../../src/release/plan-digest.js";
import { recordPreflight, type StoredPreflight } from "../../src/release/preflight-records.js";
import { listReleaseRecords } from "../../src/release/records.js";
import { runGuardedMutation } from "../../src/release/run-release.js";
import { issueConfirmationToken, verifyConfirmationToken } from "../../src/release/tokens.js";
import type {
  GuardedMutationRequest,
  GuardResult,
  MutationOutcome,
  ReleaseHandle,
} from "../../src/release/types.js";
import type { Runtime } from "../../src/server/runtime.js";
import { createBucket } from "../support/aws-fixtures.js";
import { createGitRepo, type GitFixture } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { rejectionOf } from "../support/rejection.js";
import { artifactBucketRuntime, toolContextFor } from "../support/runtime.js";

const moto = useMoto();
const SECRET = "shared-secret-for-guard-tests";
const ARN = "arn:aws:sts::123456789012:user/moto";

let counter = 0;
let bucket: string;
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
    config: options.config ?? {},
    now: () => clock,
    secret: options.secret ?? SECRET,
  });
}

const contextFor = toolContextFor;
const overContext = (c: ToolContext, over: Partial<ToolContext>): ToolContext => ({ ...c, ...over });

async function bucketKeys(): Promise<string[]> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

async function readJson(key: string): Promise<Record<string, unknown>> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await out.Body!.transformToString()) as Record<string, unknown>;
}

const PLAN = {
  functionName: "vyaparai-api-prod",
  codeSha256: "q6t5xHbe2yXjOI8lJBbsyxDBVk0HRu6mT5lB/sxGUrk=",
};

function request(
  ctx: ToolContext,
  over: Partial<GuardedMutationRequest<unknown>> = {},
): GuardedMutationRequest<unknown> {
  return {
    ctx,
    component: "lambda",
    plan: PLAN,
    planSummary: "Update vyaparai-api-prod to code q6t5xH… (1 file changed).",
    requirePreflight: true,
    ...over,
  };
}

/** The stand-in for a real deploy: one S3 object per release, so tests can see it happened. */
async function fakeDeploy(
  ctx: ToolContext,
  release: ReleaseHandle,
): Promise<MutationOutcome<{ key: string }>> {
  const key = `deployed/${release.releaseId}.txt`;
  await (await ctx.aws.s3()).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "new code" }));
  return {
    status: "succeeded",
    result: { key },
    record: { after: { version: "4" }, timings: { uploadMs: 5 } },
  };
}

async function passPreflight(ctx: ToolContext, patch: Partial<StoredPreflight> = {}): Promise<void> {
  await recordPreflight(ctx, {
    preflightId: `pf-${++counter}`,
    env: ctx.envName,
    gitSha: repo.head(),
    clean: true,
    ok: true,
    at: clock.toISOString(),
    components: ["backend", "frontend", "infra"],
    ...patch,
  });
}

async function tokenFor(ctx: ToolContext, plan: unknown = PLAN): Promise<string> {
  const first = await runGuardedMutation(request(ctx, { plan }), () => {
    throw new Error("must not mutate without a token");
  });
  if (first.kind !== "confirmation_required") throw new Error("expected confirmation_required");
  return first.confirmationToken;
}

beforeEach(async () => {
  bucket = `guard-test-${++counter}`;
  await createBucket(await moto.current.clients().s3(), bucket);
  clock = new Date("2026-11-25T13:00:00.000Z");
  repo = createGitRepo({ files: { "backend/app/main.py": "print('hi')\n" } });
  runtime = makeRuntime();
  repo.commitAll("config");
});

describe("protected env: the confirmation round trip", () => {
  it("a call without a token plans, mutates nothing in S3 and returns a token", async () => {
    const ctx = contextFor(runtime);
    const result = await runGuardedMutation(request(ctx), () => {
      throw new Error("must not mutate");
    });
    expect(result).toEqual({
      kind: "confirmation_required",
      planDigest: digestPlan(PLAN),
      confirmationToken: expect.stringMatching(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/),
      expiresAt: "2026-11-25T13:10:00.000Z",
      blockedBy: expect.stringMatching(/^Tests first: no preflight/),
    });
    // No lock, no release record, no spent token: the bucket is exactly as before.
    expect(await bucketKeys()).toEqual([]);
  });

  it("the answer says up front when the confirmed call would meet the tests-first gate", async () => {
    const ctx = contextFor(runtime);
    const blocked = await runGuardedMutation(request(ctx), () => Promise.reject(new Error("no")));
    expect(blocked).toMatchObject({
      kind: "confirmation_required",
      blockedBy: expect.stringMatching(/^Tests first: no preflight/),
    });
    await passPreflight(ctx);
    const clear = await runGuardedMutation(request(ctx), () => Promise.reject(new Error("no")));
    expect(clear.kind).toBe("confirmation_required");
    expect(clear).not.toHaveProperty("blockedBy");
    const rollback = await runGuardedMutation(request(ctx, { requirePreflight: false }), () =>
      Promise.reject(new Error("no")),
    );
    expect(rollback).not.toHaveProperty("blockedBy");
  });

  it("a valid token works exactly once: lock and in_progress record during, final record after, lock gone", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const seen: Record<string, unknown> = {};
    const result = await runGuardedMutation(request(ctx, { confirmationToken: token }), async (release) => {
      seen.lock = await readDeployLock(ctx);
      seen.atStart = await readJson(`releases/prod/lambda/${release.releaseId}.json`);
      await release.update({ before: { version: "3" }, artifacts: { artifactKey: "backend/abc.zip" } });
      seen.afterUpdate = await readJson(`releases/prod/lambda/${release.releaseId}.json`);
      return fakeDeploy(ctx, release);
    });
    expect(result).toMatchObject({ kind: "done", status: "succeeded", planDigest: digestPlan(PLAN) });
    const { releaseId } = result as Extract<GuardResult<unknown>, { kind: "done" }>;
    expect(releaseId).toMatch(/^20261125T130000000Z-[0-9a-f]{6}$/);

    expect(seen.lock).toMatchObject({ holder: ARN, tool: "deploy_lambda", releaseId, stale: false });
    expect(seen.atStart).toMatchObject({
      releaseId,
      env: "prod",
      component: "lambda",
      tool: "deploy_lambda",
      status: "in_progress",
      who: ARN,
      gitSha: repo.head(),
      planDigest: digestPlan(PLAN),
      startedAt: "2026-11-25T13:00:00.000Z",
      finishedAt: null,
    });
    expect(seen.afterUpdate).toMatchObject({ status: "in_progress", before: { version: "3" } });

    const final = await readJson(`releases/prod/lambda/${releaseId}.json`);
    expect(final).toMatchObject({
      status: "succeeded",
      who: ARN,
      gitSha: repo.head(),
      finishedAt: "2026-11-25T13:00:00.000Z",
      before: { version: "3" },
      after: { version: "4" },
      artifacts: { artifactKey: "backend/abc.zip" },
      timings: { uploadMs: 5, totalMs: expect.any(Number) },
    });
    const keys = await bucketKeys();
    expect(keys.filter((k) => k.startsWith("locks/"))).toEqual([]);
    expect(keys.filter((k) => k.startsWith("deployed/"))).toEqual([`deployed/${releaseId}.txt`]);
    expect(keys.filter((k) => k.startsWith("tokens/prod/"))).toHaveLength(1);

    // Second use, same process.
    const again = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), (r) => fakeDeploy(ctx, r)),
    );
    expect(again).toBeInstanceOf(RefusalError);
    expect(again.detail?.reason).toBe("already_used");
    expect(again.message).toMatch(/already used/);
    // Second use from another process sharing VYAPARAI_DEPLOY_SECRET (a CLI next to the server).
    const cli = makeRuntime();
    const cliCtx = contextFor(cli);
    await passPreflight(cliCtx);
    const fromCli = await rejectionOf(
      runGuardedMutation(request(cliCtx, { confirmationToken: token }), (r) => fakeDeploy(cliCtx, r)),
    );
    expect(fromCli.detail?.reason).toBe("already_used");
    expect(await bucketKeys()).toEqual(keys);
  });

  it("two processes presenting one token at the same moment: exactly one mutates", async () => {
    const server = runtime;
    const cli = makeRuntime();
    const serverCtx = contextFor(server);
    const cliCtx = contextFor(cli);
    await passPreflight(serverCtx);
    await passPreflight(cliCtx);
    const token = await tokenFor(serverCtx);
    const outcomes = await Promise.allSettled([
      runGuardedMutation(request(serverCtx, { confirmationToken: token }), (r) => fakeDeploy(serverCtx, r)),
      runGuardedMutation(request(cliCtx, { confirmationToken: token }), (r) => fakeDeploy(cliCtx, r)),
    ]);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const loser = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    expect((loser.reason as DeployError).detail?.reason).toBe("already_used");
    expect((await bucketKeys()).filter((k) => k.startsWith("deployed/"))).toHaveLength(1);
  });

  it("a plan that changed between plan and confirm is refused with the new plan and a new token", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const newPlan = { ...PLAN, codeSha256: "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5PQ==" };
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { plan: newPlan, confirmationToken: token }), (r) =>
        fakeDeploy(ctx, r),
      ),
    );
    expect(error).toBeInstanceOf(RefusalError);
    expect(error.message).toMatch(/plan changed since the confirmationToken was issued/);
    expect(error.detail).toEqual({
      status: "confirmation_required",
      reason: "plan_changed",
      plan: newPlan,
      planDigest: digestPlan(newPlan),
      confirmationToken: expect.stringMatching(/^v1\./),
      expiresAt: "2026-11-25T13:10:00.000Z",
    });
    expect(await bucketKeys()).toEqual([]);
    const result = await runGuardedMutation(
      request(ctx, { plan: newPlan, confirmationToken: error.detail?.confirmationToken as string }),
      (r) => fakeDeploy(ctx, r),
    );
    expect(result).toMatchObject({ kind: "done", planDigest: digestPlan(newPlan) });
  });

  it("an explicit planDigest (terraform's saved plan) is what the token confirms", async () => {
    const ctx = contextFor(runtime, { toolName: "terraform_apply" });
    const planDigest = "b".repeat(64);
    const issued = await issueConfirmationToken(ctx, { tool: "terraform_apply", planDigest });
    const result = await runGuardedMutation(
      request(ctx, {
        component: "infra",
        planDigest,
        plan: { counts: { create: 1 } },
        requirePreflight: false,
        confirmationToken: issued.confirmationToken,
      }),
      (r) => fakeDeploy(ctx, r),
    );
    expect(result).toMatchObject({ kind: "done", planDigest });
    const other = await rejectionOf(
      runGuardedMutation(
        request(ctx, {
          component: "infra",
          planDigest: "c".repeat(64),
          requirePreflight: false,
          confirmationToken: (await issueConfirmationToken(ctx, { tool: "terraform_apply", planDigest }))
            .confirmationToken,
        }),
        (r) => fakeDeploy(ctx, r),
      ),
    );
    expect(other.detail?.reason).toBe("plan_changed");
  });
});

describe("protected env: every bad token is refused with its reason and changes nothing", () => {
  const cases: Array<[string, (ctx: ToolContext) => Promise<{ token: string; ctx?: ToolContext }>]> = [
    ["malformed", async () => ({ token: "not-a-token" })],
    ["malformed", async () => ({ token: `v1.${Buffer.from("{}").toString("base64url")}.${"A".repeat(43)}` })],
    [
      "bad_signature",
      async (ctx) => {
        // Tampered: a later expiry written into the payload, the mac kept.
        const [v, payload, mac] = (await tokenFor(ctx)).split(".") as [string, string, string];
        const decoded = JSON.parse(Buffer.from(payload, "base64url").toString());
        decoded.exp += 3_600_000;
        return { token: `${v}.${Buffer.from(JSON.stringify(decoded)).toString("base64url")}.${mac}` };
      },
    ],
    [
      "bad_signature",
      async (ctx) => {
        const token = await tokenFor(ctx);
        const last = token.at(-2) === "A" ? "B" : "A";
        return { token: `${token.slice(0, -2)}${last}${token.at(-1)}` };
      },
    ],
    [
      "bad_signature",
      async () => {
        // Issued by a server with another secret.
        const stranger = makeRuntime({ secret: "another-secret" });
        return { token: await tokenFor(contextFor(stranger)) };
      },
    ],
    [
      "expired",
      async (ctx) => {
        const token = await tokenFor(ctx);
        clock = new Date(clock.getTime() + 10 * 60_000 + 1);
        return { token };
      },
    ],
    [
      "other_tool",
      async (ctx) => ({ token: await tokenFor(overContext(ctx, { toolName: "deploy_frontend" })) }),
    ],
    [
      "other_env",
      async (ctx) => {
        const staging = overContext(ctx, { envName: "staging" });
        return {
          token: (
            await issueConfirmationToken(staging, { tool: "deploy_lambda", planDigest: digestPlan(PLAN) })
          ).confirmationToken,
        };
      },
    ],
    [
      "other_account",
      async (ctx) => {
        const elsewhere = overContext(ctx, {
          identity: async () => ({
            account: "999999999999",
            arn: "arn:aws:iam::999999999999:user/x",
            userId: "x",
          }),
        });
        return {
          token: (
            await issueConfirmationToken(elsewhere, { tool: "deploy_lambda", planDigest: digestPlan(PLAN) })
          ).confirmationToken,
        };
      },
    ],
    [
      "other_region",
      async (ctx) => {
        const mumbailess = overContext(ctx, { env: { ...ctx.env, region: "eu-west-1" } });
        return {
          token: (
            await issueConfirmationToken(mumbailess, { tool: "deploy_lambda", planDigest: digestPlan(PLAN) })
          ).confirmationToken,
        };
      },
    ],
  ];

  it.each(cases)("%s", async (reason, make) => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const { token } = await make(ctx);
    const before = await bucketKeys();
    const error = await rejectionOf(
      runGuardedMutation(request(contextFor(runtime), { confirmationToken: token }), (r) =>
        fakeDeploy(ctx, r),
      ),
    );
    expect(error).toBeInstanceOf(RefusalError);
    expect(error.detail?.reason).toBe(reason);
    expect(error.message).toMatch(
      new RegExp(`Refused \\(${reason}\\).*without confirmationToken.*Nothing was changed`),
    );
    expect(await bucketKeys()).toEqual(before);
    expect(before.filter((k) => !k.startsWith("tokens/"))).toEqual([]);
  });

  it("a missing token is reported as missing by the verifier", async () => {
    const check = await verifyConfirmationToken(contextFor(runtime), {
      tool: "deploy_lambda",
      planDigest: digestPlan(PLAN),
      token: undefined,
    });
    expect(check).toMatchObject({ ok: false, reason: "missing" });
  });

  it("credentials for another account than the env's accountId are refused before any token", async () => {
    runtime = makeRuntime({
      config: { environments: { prod: { accountId: "111111111111", lambda: { artifactBucket: bucket } } } },
    });
    const error = await rejectionOf(
      runGuardedMutation(request(contextFor(runtime)), (r) => fakeDeploy(contextFor(runtime), r)),
    );
    expect(error.detail?.reason).toBe("other_account");
    expect(error.message).toMatch(/belongs to AWS account 111111111111.*123456789012/);
    expect(await bucketKeys()).toEqual([]);
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
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), (r) => fakeDeploy(ctx, r)),
    );
    expect(error.detail?.reason).toBe(reason);
    expect(error.message).toMatch(message);
    expect(asked).toHaveLength(1);
    expect(asked[0]?.message).toContain('Approve deploy_lambda on PROTECTED env "prod"');
    expect(asked[0]?.message).toContain("Update vyaparai-api-prod to code q6t5xH… (1 file changed).");
    // Nothing at all: not even the token is spent.
    expect(await bucketKeys()).toEqual([]);
  });

  it("accept proceeds", async () => {
    const asked: ApprovalRequest[] = [];
    const ctx = contextFor(runtime, { askPerson: asking("accept", asked) });
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const result = await runGuardedMutation(request(ctx, { confirmationToken: token }), (r) =>
      fakeDeploy(ctx, r),
    );
    expect(result).toMatchObject({ kind: "done", status: "succeeded" });
    expect(asked).toHaveLength(1);
  });

  it("a question that fails is not an approval", async () => {
    const ctx = contextFor(runtime, { askPerson: asking(new Error("client went away"), []) });
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), (r) => fakeDeploy(ctx, r)),
    );
    expect(error.detail?.reason).toBe("approval_failed");
    expect(await bucketKeys()).toEqual([]);
  });

  it("requireElicitation refuses when the client cannot ask (without it the token alone stands, as above)", async () => {
    runtime = makeRuntime({ config: { requireElicitation: true } });
    repo.commitAll("require elicitation");
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    const token = await tokenFor(ctx);
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), (r) => fakeDeploy(ctx, r)),
    );
    expect(error.detail?.reason).toBe("approval_unavailable");
    expect(error.message).toMatch(/requireElicitation is true/);
    expect(await bucketKeys()).toEqual([]);
  });
});

describe("protected env: tests first", () => {
  async function attempt(ctx: ToolContext) {
    const token = await tokenFor(ctx);
    return rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), (r) => fakeDeploy(ctx, r)),
    );
  }

  it("refuses without any preflight", async () => {
    const error = await attempt(contextFor(runtime));
    expect(error.detail?.reason).toBe("no_preflight");
    expect(error.message).toMatch(/Tests first: no preflight has been run for env "prod"; run preflight/);
    expect(await bucketKeys()).toEqual([]);
  });

  it("refuses a dirty tree even with a passing preflight, naming the files", async () => {
    const ctx = contextFor(runtime);
    await passPreflight(ctx);
    repo.dirty("backend/app/main.py");
    const error = await attempt(ctx);
    expect(error.detail?.reason).toBe("tree_dirty");
    expect(error.message).toMatch(/working tree is dirty \(backend\/app\/main\.py\); commit or stash/);
    expect(await bucketKeys()).toEqual([]);
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
    expect((await bucketKeys()).filter((k) => !k.startsWith("tokens/"))).toEqual([]);
  });

  it("passes with a preflight recorded by another process (the CLI honours the file under .git)", async () => {
    await passPreflight(contextFor(makeRuntime()));
    const ctx = contextFor(runtime);
    expect(runtime.session.preflights.size).toBe(0);
    const token = await tokenFor(ctx);
    const result = await runGuardedMutation(request(ctx, { confirmationToken: token }), (r) =>
      fakeDeploy(ctx, r),
    );
    expect(result).toMatchObject({ kind: "done", status: "succeeded" });
  });

  it("is skipped for mutations that do not require it (rollback, apply)", async () => {
    const ctx = contextFor(runtime, { toolName: "rollback" });
    const token = await tokenFor(ctx);
    const result = await runGuardedMutation(
      request(ctx, { requirePreflight: false, confirmationToken: token }),
      (r) => fakeDeploy(ctx, r),
    );
    expect(result).toMatchObject({ kind: "done" });
  });
});

describe("lock and record on every path", () => {
  async function confirmedCtx(over: Partial<ToolContext> = {}) {
    const ctx = contextFor(runtime, over);
    await passPreflight(ctx);
    return { ctx, token: await tokenFor(ctx) };
  }

  it("a thrown error records failed with the (redacted) message, rethrows and unlocks", async () => {
    const { ctx, token } = await confirmedCtx();
    let releaseId = "";
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), async (release) => {
        releaseId = release.releaseId;
        throw new Error("UpdateFunctionCode failed for key AKIAIOSFODNN7EXAMPLE");
      }),
    );
    expect(error.message).toBe("UpdateFunctionCode failed for key AKIAIOSFODNN7EXAMPLE");
    const record = await readJson(`releases/prod/lambda/${releaseId}.json`);
    expect(record).toMatchObject({
      status: "failed",
      error: "UpdateFunctionCode failed for key [REDACTED]",
      finishedAt: "2026-11-25T13:00:00.000Z",
    });
    expect((await bucketKeys()).filter((k) => k.startsWith("locks/"))).toEqual([]);
  });

  it("cancellation through the signal records failed, throws CancelledError and unlocks", async () => {
    const controller = new AbortController();
    const { ctx, token } = await confirmedCtx({ signal: controller.signal });
    let releaseId = "";
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), async (release) => {
        releaseId = release.releaseId;
        await (await ctx.aws.s3()).send(
          new PutObjectCommand({ Bucket: bucket, Key: "deployed/half", Body: "x" }),
        );
        controller.abort();
        // A step that notices the abort the way the SDK does: a plain AbortError.
        throw Object.assign(new Error("Request aborted"), { name: "AbortError" });
      }),
    );
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.code).toBe("CANCELLED");
    const record = await readJson(`releases/prod/lambda/${releaseId}.json`);
    expect(record.status).toBe("failed");
    expect(record.error).toMatch(/^Cancelled: /);
    expect((await bucketKeys()).filter((k) => k.startsWith("locks/"))).toEqual([]);
  });

  it("a mutation that itself throws CancelledError keeps it", async () => {
    const controller = new AbortController();
    const { ctx, token } = await confirmedCtx({ signal: controller.signal });
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), async () => {
        controller.abort();
        throwIfAborted(controller.signal);
        return { status: "succeeded", result: null };
      }),
    );
    expect(error).toBeInstanceOf(CancelledError);
    expect((await bucketKeys()).filter((k) => k.startsWith("locks/"))).toEqual([]);
  });

  it("a call cancelled before it starts changes nothing", async () => {
    const { token } = await confirmedCtx();
    const controller = new AbortController();
    controller.abort();
    const ctx = contextFor(runtime, { signal: controller.signal });
    const before = await bucketKeys();
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), (r) => fakeDeploy(ctx, r)),
    );
    expect(error).toBeInstanceOf(CancelledError);
    expect(await bucketKeys()).toEqual(before);
  });

  it("a held lock refuses the confirmed call, naming the holder; no record is written", async () => {
    const other = await acquireDeployLock(contextFor(makeRuntime(), { toolName: "deploy_frontend" }), {
      tool: "deploy_frontend",
      releaseId: "20261125T125900Z-aaaaaa",
      breakLock: false,
    });
    const { ctx, token } = await confirmedCtx();
    const error = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), (r) => fakeDeploy(ctx, r)),
    );
    expect(error.code).toBe("LOCK_HELD");
    expect(error.message).toContain(`${ARN} running deploy_frontend (release 20261125T125900Z-aaaaaa)`);
    expect(
      (await bucketKeys()).filter((k) => k.startsWith("releases/") || k.startsWith("deployed/")),
    ).toEqual([]);
    await other.release();
  });

  it("a stale lock is broken by a confirmed call with breakLock, and only then", async () => {
    await acquireDeployLock(contextFor(makeRuntime()), {
      tool: "deploy_lambda",
      releaseId: "20261125T110000Z-dead00",
      breakLock: false,
    });
    clock = new Date(clock.getTime() + (LOCK_TTL_MINUTES + 1) * 60_000);
    const { ctx, token } = await confirmedCtx();
    const blocked = await rejectionOf(
      runGuardedMutation(request(ctx, { confirmationToken: token }), (r) => fakeDeploy(ctx, r)),
    );
    expect(blocked.code).toBe("LOCK_HELD");
    expect(blocked.message).toMatch(/stale/);
    // breakLock without a token only gets a token: the lock is untouched.
    const unconfirmed = await runGuardedMutation(request(ctx, { breakLock: true }), (r) =>
      fakeDeploy(ctx, r),
    );
    expect(unconfirmed.kind).toBe("confirmation_required");
    expect((await readDeployLock(ctx))?.releaseId).toBe("20261125T110000Z-dead00");
    const result = await runGuardedMutation(
      request(ctx, {
        breakLock: true,
        confirmationToken: (unconfirmed as { confirmationToken: string }).confirmationToken,
      }),
      (r) => fakeDeploy(ctx, r),
    );
    expect(result).toMatchObject({ kind: "done", status: "succeeded" });
    expect(await readDeployLock(ctx)).toBeNull();
  });
});

describe("a long mutation", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps its lock fresh so it never looks stale while it runs", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const ctx = contextFor(runtime, { envName: "dev" });
    const started = clock.getTime();
    const result = await runGuardedMutation(request(ctx), async (release) => {
      // Two hours of work, in LOCK_REFRESH_MS steps of the injected clock and the interval timer.
      for (let elapsed = 0; elapsed < 2 * 60 * 60_000; elapsed += LOCK_REFRESH_MS) {
        clock = new Date(clock.getTime() + LOCK_REFRESH_MS);
        const expected = new Date(clock.getTime() + LOCK_TTL_MINUTES * 60_000).toISOString();
        vi.advanceTimersByTime(LOCK_REFRESH_MS);
        await vi.waitFor(async () => expect((await readDeployLock(ctx))?.expiresAt).toBe(expected), {
          timeout: 10_000,
        });
        expect((await readDeployLock(ctx))?.stale).toBe(false);
      }
      return fakeDeploy(ctx, release);
    });
    expect(result).toMatchObject({ kind: "done", status: "succeeded" });
    expect(clock.getTime() - started).toBeGreaterThan(LOCK_TTL_MINUTES * 60_000);
    expect(await readDeployLock(ctx)).toBeNull();
  });
});

describe("unprotected env", () => {
  it("runs directly: lock, record, mutation, unlock; records list newest first", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock = new Date(Date.UTC(2026, 10, 25, 14, i, 0));
      const ctx = contextFor(runtime, { envName: "dev" });
      const result = await runGuardedMutation(request(ctx), (r) => fakeDeploy(ctx, r));
      expect(result).toMatchObject({ kind: "done", status: "succeeded" });
      ids.push((result as { releaseId: string }).releaseId);
    }
    const s3 = await moto.current.clients().s3();
    const records = await listReleaseRecords(s3, bucket, "dev", "lambda");
    expect(records.map((r) => r.releaseId)).toEqual([...ids].reverse());
    expect(records.every((r) => r.status === "succeeded" && r.who === ARN)).toBe(true);
    expect((await bucketKeys()).filter((k) => k.startsWith("locks/") || k.startsWith("tokens/"))).toEqual([]);
  });

  it("a stale lock is broken directly with breakLock", async () => {
    const ctx = contextFor(runtime, { envName: "dev" });
    await acquireDeployLock(ctx, {
      tool: "deploy_lambda",
      releaseId: "20261125T100000Z-dead00",
      breakLock: false,
    });
    clock = new Date(clock.getTime() + (LOCK_TTL_MINUTES + 1) * 60_000);
    const result = await runGuardedMutation(request(ctx, { breakLock: true }), (r) => fakeDeploy(ctx, r));
    expect(result).toMatchObject({ kind: "done" });
    expect(await readDeployLock(ctx)).toBeNull();
  });

  it("a mutation cannot rewrite who, when or which release", async () => {
    const ctx = contextFor(runtime, { envName: "dev" });
    const result = await runGuardedMutation(request(ctx), async (release) => {
      await release.update({ who: "someone-else", releaseId: "x", status: "succeeded" });
      return { status: "rolled_back", result: null, record: { who: "another", startedAt: "1999" } };
    });
    const { releaseId } = result as { releaseId: string };
    const record = await readJson(`releases/dev/lambda/${releaseId}.json`);
    expect(record).toMatchObject({
      releaseId,
      who: ARN,
      status: "rolled_back",
      startedAt: clock.toISOString(),
    });
  });
});
