import { throwIfAborted } from "../../core/errors.js";

/**
 * Runs `task` over `items` with at most `concurrency` at once. On the first failure (or a
 * cancellation) nothing new starts, the calls already in flight are awaited, and then the
 * first error is thrown. Plain `Promise.all` over p-limit would reject at once while queued
 * uploads kept running in the background — after the lock was released.
 *
 * A fixed set of workers takes the next item when it is free, so only `concurrency` calls
 * (and their request objects and bodies) exist at any moment — not a queued promise per item.
 */
export async function forEachBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let failure: { error: unknown } | null = null;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        throwIfAborted(signal);
        results[index] = await task(items[index] as T);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Math.max(1, Math.min(concurrency, items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure) throw (failure as { error: unknown }).error;
  return results;
}
