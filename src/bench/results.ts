import type { ScenarioId } from "./args.js";

/** How a row passes: ours/baseline at most `max`, or ours at most `max` of `unit`. */
export type Target = { kind: "ratio"; max: number } | { kind: "absolute"; max: number };

export interface Row {
  id: ScenarioId;
  unit: "ms" | "MB";
  /** Medians of the measured runs; null when the side was not measured. */
  ours: number | null;
  baseline: number | null;
  target: Target;
  /** Extra conditions of the target (uploads, PUTs, output size), already judged. */
  checks: Array<{ what: string; ok: boolean }>;
  /** Facts worth reading next to the numbers: files uploaded, sizes. */
  notes: string[];
  /** Why there is no number ("not available: deploy_frontend not built", an error). */
  unavailable?: string;
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

/** A row passes only with a number that meets its target and every extra check. */
export function passes(row: Row): boolean {
  if (row.unavailable !== undefined || row.ours === null) return false;
  const value = row.target.kind === "ratio" ? ratioOf(row) : row.ours;
  if (value === null || value > row.target.max) return false;
  return row.checks.every((check) => check.ok);
}

export function unavailableRow(id: ScenarioId, unit: Row["unit"], target: Target, why: string): Row {
  return {
    id,
    unit,
    ours: null,
    baseline: null,
    target,
    checks: [],
    notes: [],
    unavailable: why,
    runs: { ours: [], baseline: [] },
  };
}

/** Builds a measured row from the raw runs. */
export function measuredRow(
  id: ScenarioId,
  unit: Row["unit"],
  target: Target,
  runs: { ours: number[]; baseline: number[] },
  extra: { checks?: Row["checks"]; notes?: string[] } = {},
): Row {
  return {
    id,
    unit,
    ours: median(runs.ours),
    baseline: median(runs.baseline),
    target,
    checks: extra.checks ?? [],
    notes: extra.notes ?? [],
    runs,
  };
}
