import type { ScenarioId } from "./args.js";

/** How a row passes: ours/baseline at most `max`, or ours at most `max` of `unit`. */
export type Target = { kind: "ratio"; max: number } | { kind: "absolute"; max: number };

export interface Row {
  id: ScenarioId;
  /** The network the row was measured through: "loopback", "40ms", "100ms". */
  column: string;
  unit: "ms" | "MB";
  /** Medians of the measured runs; null when the side was not measured. */
  ours: number | null;
  baseline: number | null;
  /** null: no target for this scenario in this column, the row is for reading (info). */
  target: Target | null;
  /** Extra conditions of the target (uploads, PUTs, output size), already judged. */
  checks: Array<{ what: string; ok: boolean }>;
  /** Facts worth reading next to the numbers: files uploaded, sizes. */
  notes: string[];
  /** Why there is no number ("not available: deploy_frontend not built", an error). */
  unavailable?: string;
  /** AWS requests per run through the proxy (medians); null: the side makes none or was not counted. */
  requests: { ours: number | null; baseline: number | null };
  /** moto's busy time per run (medians, ms): the emulator's share of each figure. */
  motoBusyMs: { ours: number | null; baseline: number | null };
  /** Our server's peak RSS (VmHWM) at the end of the row's runs, MB. */
  peakRssMb: number | null;
  runs: { ours: number[]; baseline: number[] };
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function ratioOf(row: Row): number | null {
  if (row.ours === null || row.baseline === null || row.baseline === 0) return null;
  return row.ours / row.baseline;
}

export type Verdict = "pass" | "FAIL" | "info";

/**
 * A row with a target passes only with a number that meets it and every extra check. A row
 * without a target is for reading, but a failed check (a write a no-op must not make) or a
 * missing number still fails it.
 */
export function verdictOf(row: Row): Verdict {
  if (row.unavailable !== undefined || row.ours === null) return "FAIL";
  if (!row.checks.every((check) => check.ok)) return "FAIL";
  if (row.target === null) return "info";
  const value = row.target.kind === "ratio" ? ratioOf(row) : row.ours;
  if (value === null || value > row.target.max) return "FAIL";
  return "pass";
}

export function passes(row: Row): boolean {
  return verdictOf(row) !== "FAIL";
}

export function unavailableRow(
  id: ScenarioId,
  column: string,
  unit: Row["unit"],
  target: Target | null,
  why: string,
): Row {
  return {
    id,
    column,
    unit,
    ours: null,
    baseline: null,
    target,
    checks: [],
    notes: [],
    unavailable: why,
    requests: { ours: null, baseline: null },
    motoBusyMs: { ours: null, baseline: null },
    peakRssMb: null,
    runs: { ours: [], baseline: [] },
  };
}

export interface RowExtra {
  checks?: Row["checks"];
  notes?: string[];
  requests?: { ours: number[]; baseline: number[] };
  motoBusyMs?: { ours: number[]; baseline: number[] };
  peakRssMb?: number | null;
}

/** Builds a measured row from the raw runs. */
export function measuredRow(
  id: ScenarioId,
  column: string,
  unit: Row["unit"],
  target: Target | null,
  runs: { ours: number[]; baseline: number[] },
  extra: RowExtra = {},
): Row {
  return {
    id,
    column,
    unit,
    ours: median(runs.ours),
    baseline: median(runs.baseline),
    target,
    checks: extra.checks ?? [],
    notes: extra.notes ?? [],
    requests: {
      ours: median(extra.requests?.ours ?? []),
      baseline: median(extra.requests?.baseline ?? []),
    },
    motoBusyMs: {
      ours: median(extra.motoBusyMs?.ours ?? []),
      baseline: median(extra.motoBusyMs?.baseline ?? []),
    },
    peakRssMb: extra.peakRssMb ?? null,
    runs,
  };
}
