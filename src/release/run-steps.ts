import { formatMs, retryWithin, withDeadline } from "../core/budget.js";
import type { ProgressReporter } from "../core/context.js";
import { CancelledError, DeployError, describeError } from "../core/errors.js";
import type { Journal } from "./journal.js";
import type { ReleaseOutcome, ReleaseSpec, ReleaseStep, StepIo, UndoReport, Verification } from "./spec.js";
import type { Phase } from "./types.js";

const DEFAULT_STEP_DEADLINE_MS = 10 * 60_000;
const DEFAULT_VERIFY_DEADLINE_MS = 3 * 60_000;
/** Reading back what is live gets a short budget of its own: the answer must not wait on it long. */
const READ_LIVE_BUDGET_MS = 15_000;

export interface StepsInput<P, S, L> {
  spec: ReleaseSpec<P, S, L>;
  journal: Journal;
  releaseId: string;
  gitSha: string | null;
  signal: AbortSignal;
  progress: ProgressReporter;
  undoBudgetMs: number;
  /** True once the heartbeat found the lock taken by another call. */
  lockLost: () => boolean;
}

export interface StepsOutcome<L> {
  status: ReleaseOutcome;
  cancelled: boolean;
  failure?: { step: string; message: string };
  verification?: Verification;
  undo?: UndoReport;
  live: L | null;
  liveError?: string;
  warnings: string[];
  timings: Record<string, number>;
}

/**
 * Runs a spec's steps in order, each journalled first and bounded by its deadline; then the
 * health gate; on any failure once live state was touched, the undo, retried within its
 * budget; on success the best-effort cleanup; last, reads back what is live.
 */
export async function runSteps<P, S, L>(input: StepsInput<P, S, L>): Promise<StepsOutcome<L>> {
  const { spec, journal } = input;
  const warnings: string[] = [];
  const timings: Record<string, number> = {};
  const ioFor = (signal: AbortSignal, recorded: Promise<void> = Promise.resolve()): StepIo => ({
    releaseId: input.releaseId,
    gitSha: input.gitSha,
    signal,
    progress: input.progress,
    recorded,
    note: (patch) => journal.note(patch),
    checkpoint: async (patch) => {
      const phase = journal.phase;
      if (phase) await journal.advance(phase, patch);
      else journal.note(patch);
    },
    warn: (message) => warnings.push(message),
  });
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings[`${name}Ms`] = Math.round(performance.now() - started);
    }
  };
  const runStep = (step: Pick<ReleaseStep<S>, "name" | "deadlineMs">, work: (io: StepIo) => Promise<void>) =>
    timed(step.name, () =>
      withDeadline(step.name, step.deadlineMs ?? DEFAULT_STEP_DEADLINE_MS, input.signal, (signal) =>
        work(ioFor(signal)),
      ),
    );
  const late = new Set(spec.phasesRecordedLate ?? []);
  /** Enters a phase: written before its step, or with the next write for a late-recorded one. */
  const enterPhase = async (phase: Phase) => {
    if (late.has(phase)) journal.enter(phase);
    else await journal.advance(phase);
  };

  /**
   * A step that starts while its phase is written: it gets the write as `io.recorded`, is
   * stopped when the write fails, and is done only when both are (nothing of it runs on after).
   */
  const runWhileRecording = (step: ReleaseStep<S>, recorded: Promise<void>) => {
    recorded.catch(() => {});
    return runStep(step, async (io) => {
      const stop = new AbortController();
      recorded.catch(() => stop.abort());
      const ran = await Promise.allSettled([
        step.run(spec.state, { ...io, recorded, signal: AbortSignal.any([io.signal, stop.signal]) }),
        recorded,
      ]);
      // The journal's refusal first: a step stopped by it fails because of it.
      for (const outcome of [ran[1], ran[0]]) if (outcome.status === "rejected") throw outcome.reason;
    });
  };

  let touched = false;
  let failure: StepsOutcome<L>["failure"];
  let verification: Verification | undefined;
  const total = spec.steps.length + (spec.verify ? 1 : 0);
  for (const [index, step] of spec.steps.entries()) {
    try {
      if (input.signal.aborted) throw new CancelledError();
      if (input.lockLost()) throw lockLostError(step.name);
      if (step.startsWhileRecording) {
        input.progress(`Step ${index + 1}/${total}: ${step.name}`);
        if (step.touchesLive) touched = true;
        await runWhileRecording(step, journal.advance(step.phase));
        continue;
      }
      await journal.advance(step.phase);
      input.progress(`Step ${index + 1}/${total}: ${step.name}`);
      if (step.touchesLive) touched = true;
      await runStep(step, (io) => step.run(spec.state, io));
    } catch (error) {
      failure = { step: step.name, message: describeError(error) };
      break;
    }
  }
  if (!failure && spec.verify) {
    const verify = spec.verify;
    try {
      await enterPhase("verifying");
      input.progress(`Step ${total}/${total}: ${verify.name}`);
      // A verification that cannot finish counts as failed: the gate never passes by default.
      verification = await timed(verify.name, () =>
        withDeadline(verify.name, verify.deadlineMs ?? DEFAULT_VERIFY_DEADLINE_MS, input.signal, (signal) =>
          verify.run(spec.state, ioFor(signal)),
        ),
      );
      if (!verification.ok)
        failure = { step: verify.name, message: verification.reason ?? "the check failed" };
    } catch (error) {
      failure = { step: verify.name, message: describeError(error) };
    }
    // Safety: whatever the gate saw, it ran against live state: undo if it did not pass.
    touched = true;
  }

  let status: ReleaseOutcome = "succeeded";
  let undo: UndoReport | undefined;
  let liveRead: ReturnType<typeof readLiveBack<L>> | null = null;
  if (failure) {
    status = "failed";
    if (touched && spec.undo) {
      undo = await runUndo(input, ioFor, warnings);
      if (undo.ok && undo.result === "undone") status = "rolled_back";
    }
  } else {
    // Started before the cleanup, read when the answer is put together.
    if (spec.readLiveDuringCleanup) liveRead = readLiveBack(spec);
    for (const step of spec.cleanup ?? []) {
      try {
        await enterPhase(step.phase).catch((error: unknown) => {
          // After the switch the journal is a marker only: recovery reads live state anyway.
          warnings.push(describeError(error));
        });
        await runStep(step, (io) => step.run(spec.state, io));
      } catch (error) {
        if (error instanceof CancelledError || input.signal.aborted) {
          // The release is live and passed its gate: a cancel here skips the rest of the
          // cleanup, never the final record.
          warnings.push(
            `${step.name} and later cleanup were skipped: the call was cancelled after the release went live.`,
          );
          break;
        }
        warnings.push(`${step.name} failed after the release went live: ${describeError(error)}`);
      }
    }
  }

  const cancelled = input.signal.aborted;
  return {
    status,
    cancelled,
    ...(failure ? { failure } : {}),
    ...(verification ? { verification } : {}),
    ...(undo ? { undo } : {}),
    ...(await (liveRead ?? readLiveBack(spec))),
    warnings,
    timings,
  };
}

async function runUndo<P, S, L>(
  input: StepsInput<P, S, L>,
  ioFor: (signal: AbortSignal) => StepIo,
  warnings: string[],
): Promise<UndoReport> {
  const undo = input.spec.undo as NonNullable<ReleaseSpec<P, S, L>["undo"]>;
  await input.journal.advance("undoing").catch((error: unknown) => warnings.push(describeError(error)));
  input.progress(`Undoing: ${undo.name}`);
  // Safety: the undo ignores the caller's cancellation (it is what makes a cancel safe); only
  // its own budget ends it.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), input.undoBudgetMs + 10_000);
  timer.unref();
  try {
    const outcome = await retryWithin(() => undo.run(input.spec.state, ioFor(controller.signal)), {
      budgetMs: input.undoBudgetMs,
      // Nothing to put back (the previous code was never saved) does not get better by waiting.
      isFinal: (error) => error instanceof DeployError && error.code === "PRECONDITION",
      onRetry: (error, attempt) =>
        input.progress(`Undo attempt ${attempt} failed (${describeError(error)}); retrying`),
    });
    if (outcome.ok) return { ok: true, result: outcome.value, attempts: outcome.attempts };
    return {
      ok: false,
      attempts: outcome.attempts,
      error: `${describeError(outcome.error)} (gave up after ${outcome.attempts} attempt(s) in ${formatMs(input.undoBudgetMs)})`,
      fixCommand: undo.fixCommand(input.spec.state),
    };
  } finally {
    clearTimeout(timer);
  }
}

function lockLostError(step: string): DeployError {
  return new DeployError(
    "LOCK_HELD",
    `The deploy lock was taken by another call while this release ran; stopped before step ${step}.`,
  );
}

/** Reads what is live after a release, within a budget; an answer never guesses it. */
export async function readLiveBack<L>(
  spec: Pick<ReleaseSpec<unknown, unknown, L>, "readLive">,
): Promise<{ live: L | null; liveError?: string }> {
  const read = await retryWithin(() => spec.readLive(AbortSignal.timeout(READ_LIVE_BUDGET_MS)), {
    budgetMs: READ_LIVE_BUDGET_MS,
  });
  return read.ok
    ? { live: read.value as L }
    : { live: null, liveError: `What is live could not be read back: ${describeError(read.error)}` };
}
