import type { InterruptedRelease } from "../../release/interrupted.js";
import type { ReleaseRun, UndoReport } from "../../release/spec.js";
import type { Phase } from "../../release/types.js";

/** What every finished guarded call reports beside its own fields (tools/common.ts has the schema). */
export interface ReleaseFacts {
  phase: Phase;
  recovered: ReleaseRun<unknown, unknown>["recovered"];
  replacedLock: {
    releaseId: string;
    state: string;
    how: "taken_over" | "broken";
    expiresAt: string;
    holder: string;
  } | null;
  undo?: UndoReport;
  warnings?: string[];
  liveError?: string;
  cancelled?: boolean;
  timings: Record<string, number>;
}

export function releaseFactsOf(run: ReleaseRun<unknown, unknown>): ReleaseFacts {
  const lock = run.replacedLock;
  return {
    phase: run.phase,
    recovered: run.recovered,
    replacedLock: lock
      ? {
          releaseId: lock.releaseId,
          state: lock.state,
          how: lock.how,
          expiresAt: lock.expiresAt,
          holder: lock.holder,
        }
      : null,
    ...(run.undo ? { undo: run.undo } : {}),
    ...(run.warnings.length ? { warnings: run.warnings } : {}),
    ...(run.liveError ? { liveError: run.liveError } : {}),
    ...(run.cancelled ? { cancelled: true } : {}),
    timings: run.timings,
  };
}

/**
 * The end of a summary, in the server's own words: what else this call did and where to look.
 * Lock holders, release `who` and AWS messages stay in their fields.
 */
export function releaseTail(run: ReleaseRun<unknown, unknown>): string {
  const parts: string[] = [];
  if (run.cancelled) parts.push("The call was cancelled; the flow stopped at a safe point.");
  if (run.recovered.length)
    parts.push(`${run.recovered.length} interrupted release(s) were settled first (see recovered).`);
  if (run.replacedLock)
    parts.push(
      run.replacedLock.how === "broken"
        ? "A live deploy lock was broken, as breakLock asked (see replacedLock)."
        : `An ${run.replacedLock.state} deploy lock left by a dead deploy was taken over (see replacedLock).`,
    );
  if (run.undo && !run.undo.ok)
    parts.push(`The automatic undo gave up after ${run.undo.attempts} attempt(s); run undo.fixCommand.`);
  if (run.liveError) parts.push("What is live could not be read back (see liveError).");
  if (run.warnings.length) parts.push(`${run.warnings.length} warning(s): see warnings.`);
  return parts.length ? ` ${parts.join(" ")}` : "";
}

/** Interrupted releases as a planning answer lists them (ids and phases: the server's own facts). */
export function pendingOf(
  interrupted: InterruptedRelease[],
): Array<{ releaseId: string; component: string; phase: string | null }> {
  return interrupted.map((i) => ({
    releaseId: i.record.releaseId,
    component: i.record.component,
    phase: i.record.phase ?? null,
  }));
}
