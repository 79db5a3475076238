import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/**
 * Keeps the heap near what is live during work that makes a lot of short-lived garbage at
 * once (thousands of uploads with dozens in flight).
 *
 * Why: each request in flight holds the SDK's middleware, headers and signing state for as
 * long as the round trip lasts, so at high concurrency that garbage outlives the young
 * generation and is promoted; V8 then lets the old generation grow to several times the live
 * set before it collects (on a machine with plenty of memory it has no reason not to). A
 * 2,000-file deploy at 48 uploads in flight peaked at ~97 MB of used heap over ~35 MB live,
 * ~210 MB RSS. Node takes `--max-old-space-size` only on its command line, where it is a hard
 * limit that ends the process when a bigger site needs more; this is a soft one: when the used
 * heap passes the budget a full collection runs, and the budget grows with what survives it,
 * so a site whose live data is larger costs a collection now and then, never a crash.
 */
export class HeapBudget {
  private budget: number;
  constructor(private readonly baseBytes: number) {
    this.budget = baseBytes;
  }

  /** The used heap above which the next check collects. */
  get budgetBytes(): number {
    return this.budget;
  }

  /** Cheap (a V8 statistics read); collects only when the used heap is over the budget. */
  check(): void {
    if (getHeapStatistics().used_heap_size <= this.budget) return;
    const collect = fullCollection();
    if (!collect) return;
    collect();
    // Half as much again as is live after the collection, at least the base: collections
    // stay rare (each one frees at least half the live set) whatever the site's size, and the
    // peak stays near the live set (with twice, a 2,000-file deploy's peak RSS was ~10 MB higher).
    this.budget = Math.max(this.baseBytes, Math.round(GROWTH * getHeapStatistics().used_heap_size));
  }
}

/** The next budget, as a multiple of what is live after a collection. */
export const GROWTH = 1.5;

let collector: (() => void) | null | undefined;

/** V8's full collection, exposed once for this process; null where the flag is refused. */
function fullCollection(): (() => void) | null {
  if (collector === undefined) {
    try {
      // --expose-gc only adds a `gc` function to contexts created after it is set: read it
      // from a fresh one. It changes nothing else about the process.
      setFlagsFromString("--expose-gc");
      const gc = runInNewContext("gc") as unknown;
      collector = typeof gc === "function" ? (gc as () => void) : null;
    } catch {
      collector = null;
    }
  }
  return collector;
}
