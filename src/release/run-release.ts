import type { S3Client } from "@aws-sdk/client-s3";
import type { CallerIdentity } from "../core/context.js";
import { throwIfAborted } from "../core/errors.js";
import type { ToolContext } from "./context.js";
import type { EarlyLock } from "./early-lock.js";
import { acquireEnvLock, releaseEnvLock, startHeartbeat } from "./env-lock.js";
import { confirmationDigest, passGates } from "./gates.js";
import { Journal } from "./journal.js";
import type { HeldLock } from "./lock.js";
import { notifyRelease } from "./notify.js";
import { digestPlan } from "./plan-digest.js";
import { newReleaseId } from "./records.js";
import { changedLive, recoverInterrupted } from "./recover.js";
import { storeReleaseReport } from "./report-store.js";
import { readLiveBack, runSteps } from "./run-steps.js";
import type { RecoveredRelease, Recoverers, ReleaseResult, ReleaseRun, ReleaseSpec } from "./spec.js";
import type { ReleaseRecord } from "./types.js";

/**
 * The one guarded flow (DESIGN.md §3) for every change to an env:
 *   plan digest → token / tests first / approval (gates.ts) → lock (taking over an expired
 *   one) with a heartbeat → recover interrupted releases of the env → (plan again if that
 *   changed what is live) → journal → steps → health gate → undo on failure → cleanup →
 *   read back what is live → final record → unlock → notify.
 * Everything before the lock only reads; a refusal there leaves AWS exactly as it was.
 * A call with nothing to gate may hold the lock from its start (hooks.early), so its plan
 * is made under the lock; the gates it still passes then only read.
 */
export async function runRelease<P, S, L>(
  ctx: ToolContext,
  spec: ReleaseSpec<P, S, L>,
  recoverers: Recoverers,
  hooks: ReleaseHooks = {},
): Promise<ReleaseResult<S, L>> {
  const planDigest = spec.planDigest ?? digestPlan(spec.plan);
  const confirmDigest = confirmationDigest(planDigest, spec.breakLock);
  throwIfAborted(ctx.signal);
  const identity = await ctx.identity();
  const gate = await passGates(ctx, identity, {
    component: spec.component,
    plan: spec.plan,
    confirmDigest,
    approvalText: approvalText(spec),
    requirePreflight: spec.requirePreflight,
    treeDigest: spec.treeDigest,
    confirmationToken: spec.confirmationToken,
  });
  if ("kind" in gate) return gate;

  const s3 = await ctx.aws.s3();
  const bucket = ctx.env.lambda.artifactBucket;
  // A lock the call took before it planned (early-lock.ts) is this release's from here on.
  const early = hooks.early && !spec.breakLock && hooks.early.adopt() ? hooks.early : null;
  const startedAtMs = early?.startedAtMs ?? ctx.now().getTime();
  // With a deploy role the release id was chosen first: it names the role session.
  const releaseId = early?.releaseId ?? ctx.deployRole?.sessionName ?? newReleaseId(new Date(startedAtMs));
  const lock =
    early?.lock ??
    (await acquireEnvLock(ctx, s3, identity, {
      component: spec.component,
      releaseId,
      breakLock: spec.breakLock,
    }));
  const heartbeat = early?.heartbeat ?? startHeartbeat(ctx, lock);
  let run: ReleaseRun<S, L> | undefined;
  let record: ReleaseRecord | undefined;
  try {
    // Under an early lock the search already ran with the lock held; it found nothing to settle
    // unless it lists a release (then the search runs again here, and recovers).
    const recovered =
      early && early.interrupted.length === 0
        ? []
        : await recoverInterrupted({
            s3,
            bucket,
            envName: ctx.envName,
            releaseId,
            recoverers,
            signal: ctx.signal,
            progress: ctx.progress,
            now: ctx.now,
            undoBudgetMs: undoBudgetMs(ctx),
          });
    let current = spec;
    // What the record and the answer name: the plan that actually runs.
    let runDigest = planDigest;
    if (changedLive(recovered)) {
      // Safety: a spec that cannot plan again must not run a plan made before recovery.
      const replanned = spec.replan ? await spec.replan() : undefined;
      const digest = replanned ? (replanned.planDigest ?? digestPlan(replanned.plan)) : null;
      // Safety: a person approved the change against the state before recovery; a different
      // change after it is not what they approved.
      if (!replanned || (digest !== planDigest && ctx.env.protected)) {
        run = await finishedWithoutChange(
          releaseId,
          planDigest,
          startedAtMs,
          spec,
          lock,
          recovered,
          replanned === null,
        );
      } else {
        current = replanned;
        runDigest = digest as string;
      }
    }
    if (!run)
      ({ run, record } = await runJournalled(ctx, current, {
        s3,
        bucket,
        releaseId,
        startedAtMs,
        gitSha: gate.gitSha,
        planDigest: runDigest,
        identity,
        lock,
        lockLost: () => heartbeat.lost,
        recovered,
        onStarted: hooks.onStarted,
      }));
  } finally {
    heartbeat.stop();
    // The report is written while the lock is released (it never throws): it must not hold
    // the next deploy back, and neither needs to wait for the other.
    const reportWrite = record ? storeReleaseReport(s3, bucket, record) : null;
    const unlockWarning = await releaseEnvLock(ctx, lock);
    if (unlockWarning) run?.warnings.push(unlockWarning);
    const report = await reportWrite;
    if (report && !report.ok) run?.warnings.push(report.warning);
  }
  // After the unlock: a slow webhook must not hold the next deploy back. Never throws.
  if (record) await notifyRelease(ctx, record);
  return run as ReleaseRun<S, L>;
}

/** What a caller may learn while the flow runs. */
export interface ReleaseHooks {
  /**
   * The env's lock, taken when the call started (early-lock.ts). The flow adopts it in place of
   * taking its own, after the gates; until then (and if the flow never gets there) the caller
   * releases it. Ignored when the spec breaks a lock.
   */
  early?: EarlyLock | null | undefined;
  /**
   * Called once the release holds the lock and its record exists (phase locked), before any
   * step: from here on the release can be followed by its id (deploy_status), so a caller may
   * answer while the flow continues (a background continuation). Not called for a refusal,
   * a confirmation_required answer, or a call that recovery left nothing to do.
   */
  onStarted?: ((releaseId: string) => void) | undefined;
}

interface JournalledInput {
  s3: S3Client;
  bucket: string;
  releaseId: string;
  startedAtMs: number;
  gitSha: string | null;
  planDigest: string;
  identity: CallerIdentity;
  lock: HeldLock;
  lockLost: () => boolean;
  recovered: RecoveredRelease[];
  onStarted?: ((releaseId: string) => void) | undefined;
}

async function runJournalled<P, S, L>(
  ctx: ToolContext,
  spec: ReleaseSpec<P, S, L>,
  input: JournalledInput,
): Promise<{ run: ReleaseRun<S, L>; record: ReleaseRecord }> {
  const initial: ReleaseRecord = {
    releaseId: input.releaseId,
    env: ctx.envName,
    component: spec.component,
    tool: ctx.toolName,
    status: "in_progress",
    who: input.identity.arn || null,
    ...(ctx.deployRole ? { deployRole: { ...ctx.deployRole } } : {}),
    gitSha: input.gitSha,
    startedAt: new Date(input.startedAtMs).toISOString(),
    finishedAt: null,
    planDigest: input.planDigest,
    journal: [],
    artifacts: {},
    before: {},
    after: {},
    timings: {},
  };
  const journal = new Journal(input.s3, input.bucket, initial, ctx.now, (phase) => spec.recoveryPlan(phase));
  const started = performance.now();
  // Safety: the record exists before anything changes, so even a killed process leaves a trace.
  // It goes out with the first step's phase (runSteps advances before every step): one write
  // fewer. A detached release writes it at once: its answer names the release.
  journal.enter("locked", spec.record);
  if (input.onStarted) {
    await journal.flush();
    input.onStarted(input.releaseId);
  }
  const steps = await runSteps({
    spec,
    journal,
    releaseId: input.releaseId,
    gitSha: input.gitSha,
    signal: ctx.signal,
    progress: ctx.progress,
    undoBudgetMs: undoBudgetMs(ctx),
    lockLost: input.lockLost,
  });
  const warnings = [...steps.warnings];
  if (input.lock.replaced?.how === "taken_over") {
    warnings.push(
      `Took over the ${input.lock.replaced.state} deploy lock left by release ${input.lock.replaced.releaseId}.`,
    );
  }
  if (steps.liveError) warnings.push(steps.liveError);
  const error = steps.failure
    ? `${steps.failure.step}: ${steps.failure.message}${steps.undo && !steps.undo.ok ? `; undo failed: ${steps.undo.error}` : ""}`
    : undefined;
  const written = await journal.finish(steps.status, {
    ...(steps.live !== null ? spec.recordLive(steps.live, spec.state, steps.status) : {}),
    timings: { ...steps.timings, totalMs: Math.round(performance.now() - started) },
    ...(steps.verification?.report !== undefined ? { health: steps.verification.report } : {}),
    ...(error !== undefined ? { error } : {}),
    warnings,
  });
  if (!written.ok) {
    warnings.push(
      `The final release record releases/${ctx.envName}/${spec.component}/${input.releaseId}.json could not be written (${written.error}); it still says in_progress, and the next guarded call will settle it from live state.`,
    );
  }
  const run: ReleaseRun<S, L> = {
    kind: "finished",
    releaseId: input.releaseId,
    planDigest: input.planDigest,
    startedAtMs: input.startedAtMs,
    status: steps.status,
    cancelled: steps.cancelled,
    phase: journal.phase ?? "locked",
    state: spec.state,
    live: steps.live,
    ...(steps.liveError ? { liveError: steps.liveError } : {}),
    ...(steps.failure ? { failure: steps.failure } : {}),
    ...(steps.verification ? { verification: steps.verification } : {}),
    ...(steps.undo ? { undo: steps.undo } : {}),
    replacedLock: input.lock.replaced,
    recovered: input.recovered,
    warnings,
    timings: steps.timings,
  };
  return { run, record: journal.current };
}

/** Recovery changed what is live, and the approved plan no longer fits it: stop here. */
async function finishedWithoutChange<P, S, L>(
  releaseId: string,
  planDigest: string,
  startedAtMs: number,
  spec: ReleaseSpec<P, S, L>,
  lock: HeldLock,
  recovered: RecoveredRelease[],
  nothingLeft: boolean,
): Promise<ReleaseRun<S, L>> {
  // Honesty: the answer names what is live now, read back, in both outcomes.
  const live = await readLiveBack(spec);
  if (nothingLeft) {
    return {
      kind: "finished",
      releaseId,
      planDigest,
      startedAtMs,
      status: "succeeded",
      cancelled: false,
      phase: "locked",
      state: spec.state,
      ...live,
      replacedLock: lock.replaced,
      recovered,
      warnings: ["Recovering the interrupted release(s) left nothing else to change."],
      timings: {},
    };
  }
  return {
    kind: "finished",
    releaseId,
    planDigest,
    startedAtMs,
    status: "failed",
    cancelled: false,
    phase: "locked",
    state: spec.state,
    ...live,
    failure: {
      step: "replan",
      message:
        "Interrupted releases were recovered first and that changed what is live, so the approved plan no longer fits; nothing else was changed. Plan again (call without confirmationToken) and confirm the new plan.",
    },
    replacedLock: lock.replaced,
    recovered,
    warnings: [],
    timings: {},
  };
}

function approvalText(spec: ReleaseSpec<unknown, unknown, unknown>): string {
  return spec.breakLock
    ? `${spec.approvalText} It also BREAKS the deploy lock of another deploy that may still be running (breakLock).`
    : spec.approvalText;
}

function undoBudgetMs(ctx: ToolContext): number {
  return ctx.config.release.undoBudgetSeconds * 1000;
}
