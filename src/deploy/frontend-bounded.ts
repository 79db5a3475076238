import pLimit from "p-limit";
import { throwIfAborted } from "../errors.js";

/**
 * Runs `task` over `items` with at most `concurrency` at once. On the first failure (or a
 * cancellation) nothing new starts, the calls already in flight are awaited, and then the
 * first error is thrown. Plain `Promise.all` over p-limit would reject at once while queued
 * uploads kept running in the background — after the lock was released.
 */
export async function forEachBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const limit = pLimit(concurrency);
  let failure: { error: unknown } | null = null;
  const settled = await Promise.allSettled(
    items.map((item) =>
      limit(async () => {
        if (failure) throw failure.error;
        throwIfAborted(signal);
        try {
          return await task(item);
        } catch (error) {
          failure ??= { error };
          throw error;
        }
      }),
    ),
  );
  if (failure) throw (failure as { error: unknown }).error;
  const rejected = settled.find((result) => result.status === "rejected");
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
  return settled.map((result) => (result as PromiseFulfilledResult<R>).value);
}
