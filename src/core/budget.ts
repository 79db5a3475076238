import pRetry from "p-retry";
import { CancelledError, DeployError } from "./errors.js";

/**
 * Time budgets for the release flow: a deadline for one step, and retries with backoff for
 * the work that must not give up after the SDK's ~0.1 s of retries (the automatic undo, the
 * lock release, the final record).
 */

export interface RetryBudget {
  /** Total time for every attempt and the waits between them. */
  budgetMs: number;
  /** First wait; doubles up to maxWaitMs. */
  minWaitMs?: number;
  maxWaitMs?: number;
  /** Called after each failed attempt (progress, logs). */
  onRetry?: (error: Error, attempt: number) => void;
  /** Errors that retrying cannot fix end the retries at once. */
  isFinal?: (error: Error) => boolean;
}

export interface RetryOutcome<T> {
  ok: boolean;
  value?: T;
  error?: Error;
  attempts: number;
}

/** Runs `work` until it succeeds or the budget is spent; never throws. */
export async function retryWithin<T>(work: () => Promise<T>, budget: RetryBudget): Promise<RetryOutcome<T>> {
  let attempts = 0;
  const started = Date.now();
  try {
    const value = await pRetry(
      async () => {
        attempts++;
        return await work();
      },
      {
        // The budget, not a count, ends the retries.
        retries: Number.MAX_SAFE_INTEGER,
        minTimeout: budget.minWaitMs ?? 250,
        maxTimeout: budget.maxWaitMs ?? 5_000,
        factor: 2,
        randomize: true,
        maxRetryTime: budget.budgetMs,
        unref: true,
        shouldRetry: ({ error }) =>
          !(budget.isFinal?.(error) ?? false) && Date.now() - started < budget.budgetMs,
        onFailedAttempt: ({ error, attemptNumber }) => budget.onRetry?.(error, attemptNumber),
      },
    );
    return { ok: true, value, attempts };
  } catch (error) {
    return { ok: false, error: error as Error, attempts };
  }
}

/**
 * Runs `work` with a signal that aborts when the caller's signal does or when `deadlineMs`
 * passes. After an abort the work gets `graceMs` to stop (its AWS calls take the signal);
 * only then does the deadline error win, so a step can never keep writing behind the flow's
 * back once the flow has moved on to undo it.
 */
export async function withDeadline<T>(
  name: string,
  deadlineMs: number,
  outer: AbortSignal,
  work: (signal: AbortSignal) => Promise<T>,
  graceMs = 10_000,
): Promise<T> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), deadlineMs);
  timer.unref();
  const signal = AbortSignal.any([outer, deadline.signal]);
  const running = work(signal);
  try {
    return await running;
  } catch (error) {
    if (deadline.signal.aborted && !outer.aborted) {
      throw new DeployError(
        "TOOL_FAILED",
        `Step ${name} did not finish within its ${formatMs(deadlineMs)} deadline.`,
        {
          cause: error,
        },
      );
    }
    if (outer.aborted && !(error instanceof CancelledError)) {
      throw new CancelledError(`Cancelled during step ${name}.`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
    if (signal.aborted) await settleWithin(running, graceMs);
  }
}

async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

export function formatMs(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.round(ms / 60_000)} min`;
}
