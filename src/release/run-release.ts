import type { CallerIdentity } from "../core/context.js";
import { CancelledError, RefusalError, throwIfAborted } from "../core/errors.js";
import { redactText } from "../core/redact.js";
import { requestApproval } from "./approval.js";
import type { ToolContext } from "./context.js";
import { readGitState } from "./git.js";
import { acquireDeployLock, type HeldLock, LOCK_REFRESH_MS } from "./lock.js";
import { notifyRelease } from "./notify.js";
import { digestPlan } from "./plan-digest.js";
import { evaluateTestsFirstGate } from "./preflight-records.js";
import { newReleaseId, writeReleaseRecord } from "./records.js";
import { consumeConfirmationToken, issueConfirmationToken, verifyConfirmationToken } from "./tokens.js";
import type {
  GuardedMutationRequest,
  GuardResult,
  MutationOutcome,
  ReleaseHandle,
  ReleaseRecord,
} from "./types.js";

/**
 * Runs one mutation under every safety rule of DESIGN.md §3, in this order:
 *   plan digest → (protected) token: none → issue one and stop, having changed nothing;
 *   given → verify → tests-first gate → a person's approval → spend the token →
 *   deploy lock → release record `in_progress` → mutate → final record → unlock.
 * Everything before the lock only reads; a refusal there leaves AWS exactly as it was.
 */
export async function runGuardedMutation<P, R>(
  request: GuardedMutationRequest<P>,
  mutate: (release: ReleaseHandle) => Promise<MutationOutcome<R>>,
): Promise<GuardResult<R>> {
  const { ctx } = request;
  const tool = ctx.toolName;
  const planDigest = request.planDigest ?? digestPlan(request.plan);
  throwIfAborted(ctx.signal);
  const identity = await ctx.identity();
  assertExpectedAccount(ctx, identity);

  let gitSha: string | null = null;
  let gitRead = false;
  if (ctx.env.protected) {
    if (!request.confirmationToken) {
      const issued = await issueConfirmationToken(ctx, { tool, planDigest });
      const blockedBy = request.requirePreflight ? await gateBlocker(ctx, request.component) : null;
      return { kind: "confirmation_required", planDigest, ...issued, ...(blockedBy ? { blockedBy } : {}) };
    }
    const check = await verifyConfirmationToken(ctx, { tool, planDigest, token: request.confirmationToken });
    if (!check.ok) {
      if (check.reason === "plan_changed") {
        const issued = await issueConfirmationToken(ctx, { tool, planDigest });
        throw new RefusalError(check.message, {
          status: "confirmation_required",
          reason: "plan_changed",
          plan: request.plan,
          planDigest,
          ...issued,
        });
      }
      throw new RefusalError(`Refused (${check.reason}): ${check.message} Nothing was changed.`, {
        reason: check.reason,
      });
    }
    if (request.requirePreflight) {
      const git = await readGitState(ctx.appRoot, ctx.run);
      const verdict = await evaluateTestsFirstGate(ctx, git, request.component);
      if (!verdict.ok) {
        throw new RefusalError(`${verdict.message} Nothing was changed.`, { reason: verdict.reason });
      }
      gitSha = git.sha;
      gitRead = true;
    }
    throwIfAborted(ctx.signal);
    await requestApproval(ctx, { tool, planSummary: request.planSummary, planDigest });
    throwIfAborted(ctx.signal);
    await consumeConfirmationToken(ctx, check.token);
  }
  if (!gitRead) gitSha = (await readGitState(ctx.appRoot, ctx.run)).sha;

  const releaseId = newReleaseId(ctx.now());
  // On a protected env we only get here with a verified, spent token: breakLock is confirmed.
  const lock = await acquireDeployLock(ctx, { tool, releaseId, breakLock: Boolean(request.breakLock) });
  const finished: { record?: ReleaseRecord } = {};
  const heartbeat = keepLockFresh(ctx, lock);
  try {
    return await runLocked(
      ctx,
      request,
      mutate,
      { releaseId, gitSha, planDigest, who: identity.arn },
      finished,
    );
  } finally {
    clearInterval(heartbeat);
    await releaseQuietly(ctx, lock);
    // After the unlock: a slow webhook must not hold the next deploy back. Never throws.
    if (finished.record) await notifyRelease(ctx, finished.record);
  }
}

async function runLocked<P, R>(
  ctx: ToolContext,
  request: GuardedMutationRequest<P>,
  mutate: (release: ReleaseHandle) => Promise<MutationOutcome<R>>,
  facts: { releaseId: string; gitSha: string | null; planDigest: string; who: string },
  finished: { record?: ReleaseRecord },
): Promise<GuardResult<R>> {
  const s3 = await ctx.aws.s3();
  const bucket = ctx.env.lambda.artifactBucket;
  const started = performance.now();
  let record: ReleaseRecord = {
    releaseId: facts.releaseId,
    env: ctx.envName,
    component: request.component,
    tool: ctx.toolName,
    status: "in_progress",
    who: facts.who || null,
    gitSha: facts.gitSha,
    startedAt: ctx.now().toISOString(),
    finishedAt: null,
    planDigest: facts.planDigest,
    artifacts: {},
    before: {},
    after: {},
    timings: {},
  };
  // Safety: the record exists before anything changes, so even a killed process leaves a trace.
  await writeReleaseRecord(s3, bucket, record);
  const handle: ReleaseHandle = {
    releaseId: facts.releaseId,
    gitSha: facts.gitSha,
    async update(patch) {
      record = mergeRecord(record, patch, "in_progress");
      await writeReleaseRecord(s3, bucket, record);
    },
  };

  let outcome: MutationOutcome<R>;
  try {
    throwIfAborted(ctx.signal);
    outcome = await mutate(handle);
  } catch (error) {
    const cancelled = error instanceof CancelledError || ctx.signal.aborted;
    const message = cancelled
      ? `Cancelled: ${(error as Error)?.message ?? "the call was cancelled"}`
      : ((error as Error)?.message ?? String(error));
    const final = finish(record, { status: "failed", error: redactText(message) }, started, ctx);
    await writeFinalRecord(ctx, s3, bucket, final);
    finished.record = final;
    if (cancelled && !(error instanceof CancelledError)) {
      throw new CancelledError(
        `The call was cancelled during ${ctx.toolName}; release ${facts.releaseId} is recorded as failed. Check deploy_status for what is live.`,
      );
    }
    throw error;
  }
  const final = finish(record, { ...(outcome.record ?? {}), status: outcome.status }, started, ctx);
  finished.record = final;
  const warnings: string[] = [];
  if (!(await writeFinalRecord(ctx, s3, bucket, final))) {
    warnings.push(
      `The final release record releases/${ctx.envName}/${request.component}/${facts.releaseId}.json could not be written; it still says in_progress.`,
    );
  }
  return {
    kind: "done",
    planDigest: facts.planDigest,
    releaseId: facts.releaseId,
    status: outcome.status,
    result: outcome.result,
    ...(warnings.length ? { warnings } : {}),
  };
}

function mergeRecord(
  record: ReleaseRecord,
  patch: Partial<ReleaseRecord>,
  status: ReleaseRecord["status"],
): ReleaseRecord {
  // Identity fields are the guard's: a mutation cannot rewrite who, when or which release.
  const { releaseId: _id, env: _env, component: _c, tool: _t, who: _w, startedAt: _s, ...rest } = patch;
  return {
    ...record,
    ...rest,
    artifacts: { ...record.artifacts, ...(patch.artifacts ?? {}) },
    before: { ...record.before, ...(patch.before ?? {}) },
    after: { ...record.after, ...(patch.after ?? {}) },
    timings: { ...record.timings, ...(patch.timings ?? {}) },
    status,
  };
}

function finish(
  record: ReleaseRecord,
  patch: Partial<ReleaseRecord> & { status: ReleaseRecord["status"] },
  started: number,
  ctx: ToolContext,
): ReleaseRecord {
  const merged = mergeRecord(record, patch, patch.status);
  return {
    ...merged,
    finishedAt: ctx.now().toISOString(),
    timings: { ...merged.timings, totalMs: Math.round(performance.now() - started) },
  };
}

/** Writes the final record; false (and a logged warning) when S3 refuses it. */
async function writeFinalRecord(
  ctx: ToolContext,
  s3: Awaited<ReturnType<ToolContext["aws"]["s3"]>>,
  bucket: string,
  record: ReleaseRecord,
): Promise<boolean> {
  try {
    await writeReleaseRecord(s3, bucket, record);
    return true;
  } catch (error) {
    // The mutation's own outcome matters more than its audit write: report, do not mask it.
    ctx.log(
      "error",
      `Could not write the final release record ${record.releaseId}: ${(error as Error).message}`,
    );
    return false;
  }
}

/** A long mutation (a slow terraform apply) keeps its lock from ever looking stale. */
function keepLockFresh(ctx: ToolContext, lock: HeldLock): NodeJS.Timeout {
  const timer = setInterval(() => {
    lock.refresh().then(
      (stillOurs) => {
        if (!stillOurs) {
          ctx.log(
            "error",
            `The deploy lock ${lock.key} was taken by someone else while ${ctx.toolName} ran.`,
          );
        }
      },
      (error: Error) => ctx.log("warning", `Could not refresh the deploy lock ${lock.key}: ${error.message}`),
    );
  }, LOCK_REFRESH_MS);
  // The timer alone must never keep a CLI process alive.
  timer.unref();
  return timer;
}

async function releaseQuietly(ctx: ToolContext, lock: HeldLock): Promise<void> {
  try {
    await lock.release();
  } catch (error) {
    ctx.log(
      "error",
      `Could not release the deploy lock ${lock.key} (${(error as Error).message}); it expires on its own, or delete it once no deploy runs.`,
    );
  }
}

/** The tests-first refusal the confirmed call would meet now, read-only; null when it passes. */
async function gateBlocker(ctx: ToolContext, component: string): Promise<string | null> {
  const verdict = await evaluateTestsFirstGate(ctx, await readGitState(ctx.appRoot, ctx.run), component);
  return verdict.ok ? null : verdict.message;
}

function assertExpectedAccount(ctx: ToolContext, identity: CallerIdentity): void {
  const expected = ctx.env.accountId;
  if (expected && identity.account !== expected) {
    throw new RefusalError(
      `Env "${ctx.envName}" belongs to AWS account ${expected}, but the current credentials are for ${identity.account} (${identity.arn}). Switch to that account's credentials (profile or SSO) and retry. Nothing was changed.`,
      { reason: "other_account" },
    );
  }
}
