import { getHeapStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { GROWTH, HeapBudget } from "../../src/core/heap-budget.js";

const MB = 1024 * 1024;

describe("HeapBudget", () => {
  it("collects the garbage once the used heap passes the budget, then follows what is live", () => {
    let garbage: Array<{ i: number; s: string }> | null = Array.from({ length: 300_000 }, (_, i) => ({
      i,
      s: `object ${i}`,
    }));
    const withGarbage = getHeapStatistics().used_heap_size;
    expect(garbage.length).toBe(300_000);
    garbage = null;
    const budget = new HeapBudget(1);
    budget.check();
    const after = getHeapStatistics().used_heap_size;
    // ~20 MB of objects were unreachable: a full collection frees them.
    expect(withGarbage - after).toBeGreaterThan(10 * MB);
    // The next budget is GROWTH times what survived, so a large live set is not collected on every check.
    expect(budget.budgetBytes).toBeGreaterThanOrEqual(GROWTH * after - MB);
    expect(budget.budgetBytes).toBeLessThanOrEqual(GROWTH * after + MB);
  });

  it("does nothing under the budget", () => {
    const base = 64 * 1024 * MB;
    const budget = new HeapBudget(base);
    budget.check();
    expect(budget.budgetBytes).toBe(base);
  });
});
