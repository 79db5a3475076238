import type { S3Client } from "@aws-sdk/client-s3";
import { retryWithin } from "../core/budget.js";
import type { Clock, ProgressReporter } from "../core/context.js";
import { DeployError, describeError, serverWordsOf } from "../core/errors.js";
import { quote } from "../core/quote.js";
import { findInterruptedReleases } from "./interrupted.js";
import { writeReleaseRecord } from "./records.js";
import type { RecoveredRelease, Recoverers, RecoveryResult } from "./spec.js";
import type { ReleaseRecord } from "./types.js";

export interface RecoverInput {
  s3: S3Client;
  bucket: string;
  envName: string;
  /** The release of the call that holds the lock and recovers the others. */
  releaseId: string;
  recoverers: Recoverers;
  signal: AbortSignal;
  progress: ProgressReporter;
  now: Clock;
  undoBudgetMs: number;
}

/**
 * Settles every interrupted release of the env before a new one starts (the caller holds the
 * env's lock, so no in_progress record can belong to a running call). Each component's
 * recovery reads live state and keeps or restores; the record ends `recovered` with what was
 * found and done. A recovery that fails stops the new release: it must not start on top of
 * a state nobody understands.
 */
export async function recoverInterrupted(input: RecoverInput): Promise<RecoveredRelease[]> {
  const interrupted = await findInterruptedReleases(input.s3, input.bucket, input.envName, null, {
    ownLockReleaseId: input.releaseId,
  });
  const recovered: RecoveredRelease[] = [];
  for (const { record } of interrupted) {
    input.progress(
      `Recovering interrupted release ${record.releaseId} (${record.component}, phase ${record.phase ?? "unknown"})`,
    );
    const result = await recoverOne(input, record);
    const final: ReleaseRecord = {
      ...record,
      status: "recovered",
      finishedAt: input.now().toISOString(),
      after: { ...record.after, ...(result.after ?? {}) },
      recovery: {
        outcome: result.outcome,
        by: input.releaseId,
        at: input.now().toISOString(),
        note: result.note,
      },
    };
    const written = await retryWithin(() => writeReleaseRecord(input.s3, input.bucket, final), {
      budgetMs: 10_000,
    });
    if (!written.ok) {
      throw new DeployError(
        "AWS_ERROR",
        `Interrupted release ${record.releaseId} was recovered (${result.outcome}) but its record could not be updated (${serverWordsOf(written.error)}); nothing else was changed. Call again: recovery is repeatable.`,
      );
    }
    recovered.push({
      releaseId: record.releaseId,
      component: record.component,
      tool: record.tool,
      phase: record.phase ?? null,
      outcome: result.outcome,
      note: result.note,
    });
  }
  return recovered;
}

async function recoverOne(input: RecoverInput, record: ReleaseRecord): Promise<RecoveryResult> {
  const recoverer = input.recoverers[record.component];
  if (!recoverer) {
    return {
      outcome: "unresolved",
      note: `No automatic recovery exists for ${record.component} releases; check what is live by hand.`,
    };
  }
  try {
    return await recoverer(record, {
      signal: input.signal,
      progress: input.progress,
      undoBudgetMs: input.undoBudgetMs,
    });
  } catch (error) {
    throw new DeployError(
      "TOOL_FAILED",
      `Release ${record.releaseId} (${record.component}) was interrupted in phase ${record.phase ?? "unknown"} and could not be recovered: ${serverWordsOf(error)} Nothing else was changed; its record still says in_progress (its recovery plan is in recoveryPlan).`,
      {
        cause: error,
        detail: {
          releaseId: record.releaseId,
          recoveryError: describeError(error),
          ...(record.recoveryPlan ? { recoveryPlan: quote(record.recoveryPlan, RECOVERY_PLAN_CHARS) } : {}),
        },
      },
    );
  }
}

const RECOVERY_PLAN_CHARS = 600;

/** Recoveries that changed live state, so a plan made before them is stale. */
export function changedLive(recovered: RecoveredRelease[]): boolean {
  return recovered.some((r) => r.outcome === "restored");
}
