import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { S3Client } from "@aws-sdk/client-s3";
import { DeployError } from "../core/errors.js";
import { loadReleaseRecord } from "../release/records.js";
import type { ReleaseRecord } from "../release/types.js";
import { LEVEL_RANK, levelRank, type ParsedLogEvent } from "./log-parse.js";
import { type ErrorGroup, normaliseErrorMessage } from "./log-stats.js";
import { DEFAULT_MAX_SCANNED_EVENTS, LogWindow, scanLogEvents } from "./logs.js";

/**
 * Before/after comparison of a Lambda release (`tail_logs` with `compareTo`).
 *
 * The switch: the moment the release's new code went live. A release journals `switching`
 * before its first live-changing step (update code, publish, move alias) and the next phase
 * (`verifying`, or `switched`/`finishing`) once those steps are done, so the new code serves
 * from the first journal entry after the last `switching` entry. A record without such an
 * entry (no switching phase journalled, or the switch was the last step) falls back to its
 * `finishedAt`.
 *
 * The windows: after = [switch, min(now, switch + W)], before = [switch − len(after), switch)
 * (the instant of the switch counts as after), where W is the length of the call's since/until
 * window. Both windows cover every event of the log group (no filterPattern, level or
 * requestId), read with the same parser and stats as the window `tail_logs` returns.
 *
 * Errors: events at level ERROR or CRITICAL (the runtime's "Task timed out" line is one) plus
 * REPORT lines with `Status: timeout` whose request logged no "Task timed out" line, so each
 * timeout counts once. Error rate = errors / invocations (REPORT lines); it can exceed 1 when
 * invocations log several errors; null without invocations.
 *
 * The verdict (the server's rule):
 * - "insufficient data": fewer than MIN_INVOCATIONS invocations in either window;
 * - "worse": error rate up by more than 1 percentage point, or an error group after the
 *   switch that the before window does not have, or p95 duration up by more than 20%;
 * - "better": not worse, and error rate down by more than 1 point or p95 down by more than 20%;
 * - "same": otherwise.
 */

export const MIN_INVOCATIONS = 5;
const RATE_POINTS_THRESHOLD = 1;
const P95_CHANGE_THRESHOLD = 0.2;
/** Error groups listed per window (the largest); newErrorGroups lists up to the stats' 20. */
const WINDOW_GROUPS_SHOWN = 10;

export type Verdict = "better" | "same" | "worse" | "insufficient data";
export type SwitchSource = "journal" | "finishedAt";

export interface WindowFigures {
  /** `until` is exclusive for the before window, inclusive for the after window. */
  window: { since: string; until: string };
  invocations: number;
  errors: number;
  /** errors / invocations (0.05 = 5%), rounded to 4 decimals; null without invocations. */
  errorRate: number | null;
  durationP95Ms: number | null;
  /** Distinct error groups in the window. */
  errorGroupCount: number;
  /** The largest error groups (redacted, bounded, untrusted log text), as stats.errorGroups. */
  errorGroups: ErrorGroup[];
  scanned: number;
  /** More events existed than the scan bound: the figures cover the first `scanned` only. */
  truncated: boolean;
}

export interface ReleaseComparison {
  releaseId: string;
  releaseStatus: string;
  switchedAt: string;
  /** Where switchedAt comes from: the release journal or (without a switch entry) finishedAt. */
  switchedAtSource: SwitchSource;
  before: WindowFigures;
  after: WindowFigures;
  /** Error groups after the switch that the before window does not have (largest first). */
  newErrorGroups: ErrorGroup[];
  /** How many there are (newErrorGroups lists those among the after window's largest 20). */
  newErrorGroupCount: number;
  change: {
    /** After minus before, in percentage points, rounded to 2 decimals. */
    errorRatePoints: number | null;
    /** p95 change in percent of before, rounded to 1 decimal. */
    durationP95Percent: number | null;
  };
  verdict: Verdict;
  /** Why, in the server's words (counts and percentages only). */
  reasons: string[];
}

/** Loads a Lambda release record and the moment its code went live; errors say what to do. */
export async function loadComparedRelease(
  s3: S3Client,
  bucket: string,
  env: string,
  releaseId: string,
): Promise<{ record: ReleaseRecord; switchedAtMs: number; source: SwitchSource }> {
  const record = await loadReleaseRecord(s3, bucket, env, "lambda", releaseId);
  if (!record) {
    const other = await otherComponentOf(s3, bucket, env, releaseId);
    if (other) throw notLambda(releaseId, other);
    throw new DeployError(
      "AWS_NOT_FOUND",
      `Release ${releaseId} is not recorded for the Lambda of "${env}" (no s3://${bucket}/releases/${env}/lambda/${releaseId}.json). List releases with deploy_status and pass a Lambda release id as compareTo.`,
    );
  }
  if (record.component !== "lambda" || record.releaseId !== releaseId || record.env !== env) {
    throw notLambda(releaseId, record.component);
  }
  const keptLive =
    record.status === "succeeded" || (record.status === "recovered" && record.recovery?.outcome === "kept");
  if (!keptLive) {
    const what =
      record.status === "in_progress"
        ? "is still in progress (or was interrupted)"
        : `ended "${record.status}"${record.recovery ? ` (recovery: ${record.recovery.outcome})` : ""}`;
    throw new DeployError(
      "PRECONDITION",
      `Release ${releaseId} ${what}: its code did not stay live, so there is no before/after to compare. Pick a succeeded Lambda release (deploy_status lists them).`,
    );
  }
  const switched = switchTimeOf(record);
  if (!switched) {
    throw new DeployError(
      "PRECONDITION",
      `Release ${releaseId} records no time its code went live (no journal entry after "switching", no finishedAt); compare another release (deploy_status lists them).`,
    );
  }
  return { record, ...switched };
}

function notLambda(releaseId: string, component: string): DeployError {
  return new DeployError(
    "INPUT_INVALID",
    `Release ${releaseId} is a ${component} release, not a Lambda one: tail_logs compares Lambda releases. List releases with deploy_status and pass a Lambda release id as compareTo.`,
  );
}

async function otherComponentOf(
  s3: S3Client,
  bucket: string,
  env: string,
  releaseId: string,
): Promise<string | null> {
  for (const component of ["frontend", "infra"] as const) {
    if (await loadReleaseRecord(s3, bucket, env, component, releaseId)) return component;
  }
  return null;
}

/** See the module comment: the first journal entry after the last `switching` one, else finishedAt. */
export function switchTimeOf(record: ReleaseRecord): { switchedAtMs: number; source: SwitchSource } | null {
  const journal = record.journal;
  let lastSwitching = -1;
  journal.forEach((entry, i) => {
    if (entry.phase === "switching") lastSwitching = i;
  });
  const next = lastSwitching >= 0 ? journal[lastSwitching + 1] : undefined;
  const fromJournal = next ? Date.parse(next.at) : Number.NaN;
  if (Number.isFinite(fromJournal)) return { switchedAtMs: fromJournal, source: "journal" };
  const finished = record.finishedAt ? Date.parse(record.finishedAt) : Number.NaN;
  if (Number.isFinite(finished)) return { switchedAtMs: finished, source: "finishedAt" };
  return null;
}

/** The two windows around a switch, as epoch ms; `before.endMs` is exclusive. */
export function comparisonWindows(
  switchedAtMs: number,
  windowMs: number,
  nowMs: number,
): { before: { startMs: number; endMs: number }; after: { startMs: number; endMs: number } } {
  const afterEnd = Math.max(switchedAtMs, Math.min(nowMs, switchedAtMs + Math.max(0, windowMs)));
  const length = afterEnd - switchedAtMs;
  return {
    before: { startMs: switchedAtMs - length, endMs: switchedAtMs },
    after: { startMs: switchedAtMs, endMs: afterEnd },
  };
}

export interface CompareOptions {
  logs: CloudWatchLogsClient;
  logGroup: string;
  releaseId: string;
  releaseStatus: string;
  switchedAtMs: number;
  switchedAtSource: SwitchSource;
  /** W: the after window's longest length (the call's since/until length). */
  windowMs: number;
  nowMs: number;
  signal?: AbortSignal | undefined;
  /** Events scanned at most per window. */
  maxEvents?: number;
}

/** Reads both windows and compares them. */
export async function compareAroundRelease(options: CompareOptions): Promise<ReleaseComparison> {
  const windows = comparisonWindows(options.switchedAtMs, options.windowMs, options.nowMs);
  const [before, after] = await Promise.all([
    readWindow(options, windows.before.startMs, windows.before.endMs - 1, windows.before),
    readWindow(options, windows.after.startMs, windows.after.endMs, windows.after),
  ]);
  const newKeys = [...after.keys].filter((key) => !before.keys.has(key));
  const newErrorGroups = after.allGroups.filter((group) => !before.keys.has(group.message));
  const figures = { before: before.figures, after: after.figures };
  const change = changeOf(figures.before, figures.after);
  const { verdict, reasons } = verdictOf(figures.before, figures.after, newKeys.length, change);
  return {
    releaseId: options.releaseId,
    releaseStatus: options.releaseStatus,
    switchedAt: new Date(options.switchedAtMs).toISOString(),
    switchedAtSource: options.switchedAtSource,
    before: figures.before,
    after: figures.after,
    newErrorGroups,
    newErrorGroupCount: newKeys.length,
    change,
    verdict,
    reasons,
  };
}

/** Counts errors once per event (a timeout once per request) and keeps every error-group key. */
class ErrorTally {
  errorEvents = 0;
  readonly keys = new Set<string>();
  private readonly timeoutLineRequests = new Set<string>();
  private readonly reportTimeoutRequests = new Set<string>();

  add(event: ParsedLogEvent): void {
    if (levelRank(event.level) >= (LEVEL_RANK.ERROR ?? 40)) {
      this.errorEvents++;
      // The same key the stats group by (the message is already redacted).
      this.keys.add(normaliseErrorMessage(event.message));
      if (event.kind === "timeout" && event.requestId) this.timeoutLineRequests.add(event.requestId);
    }
    if (event.kind === "report" && event.report?.status === "timeout" && event.requestId) {
      this.reportTimeoutRequests.add(event.requestId);
    }
  }

  get errors(): number {
    let unlogged = 0;
    for (const id of this.reportTimeoutRequests) if (!this.timeoutLineRequests.has(id)) unlogged++;
    return this.errorEvents + unlogged;
  }
}

async function readWindow(
  options: CompareOptions,
  startMs: number,
  endMs: number,
  shown: { startMs: number; endMs: number },
): Promise<{ figures: WindowFigures; keys: Set<string>; allGroups: ErrorGroup[] }> {
  const tally = new ErrorTally();
  const window = new LogWindow({
    // Only the stats are used; the window keeps at most two events.
    limit: 1,
    maxEvents: options.maxEvents ?? DEFAULT_MAX_SCANNED_EVENTS,
    onParsed: (event) => tally.add(event),
  });
  if (shown.endMs > shown.startMs) {
    await scanLogEvents({
      logs: options.logs,
      logGroup: options.logGroup,
      startMs,
      endMs,
      signal: options.signal,
      window,
    });
  }
  const { stats } = window.result();
  const errors = tally.errors;
  return {
    figures: {
      window: { since: new Date(shown.startMs).toISOString(), until: new Date(shown.endMs).toISOString() },
      invocations: stats.invocations,
      errors,
      errorRate: stats.invocations > 0 ? round(errors / stats.invocations, 4) : null,
      durationP95Ms: stats.durationP95Ms,
      errorGroupCount: tally.keys.size,
      errorGroups: stats.errorGroups.slice(0, WINDOW_GROUPS_SHOWN),
      scanned: window.scanned,
      truncated: window.scanBoundHit,
    },
    keys: tally.keys,
    allGroups: stats.errorGroups,
  };
}

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

function rateOf(figures: WindowFigures): number | null {
  return figures.invocations > 0 ? figures.errors / figures.invocations : null;
}

function changeOf(before: WindowFigures, after: WindowFigures): ReleaseComparison["change"] {
  const rateBefore = rateOf(before);
  const rateAfter = rateOf(after);
  const p95Before = before.durationP95Ms;
  const p95After = after.durationP95Ms;
  return {
    errorRatePoints:
      rateBefore !== null && rateAfter !== null ? round((rateAfter - rateBefore) * 100, 2) : null,
    durationP95Percent:
      p95Before !== null && p95After !== null && p95Before > 0
        ? round(((p95After - p95Before) / p95Before) * 100, 1)
        : null,
  };
}

function percent(rate: number | null): string {
  return rate === null ? "n/a" : `${(rate * 100).toFixed(2)}%`;
}

function verdictOf(
  before: WindowFigures,
  after: WindowFigures,
  newGroups: number,
  change: ReleaseComparison["change"],
): { verdict: Verdict; reasons: string[] } {
  const windows = [
    ["before", before],
    ["after", after],
  ] as const;
  const notes = windows.flatMap(([name, f]) =>
    f.truncated ? [`the ${name} window was read in part (its first ${f.scanned} events)`] : [],
  );
  const thin = windows.flatMap(([name, f]) =>
    f.invocations < MIN_INVOCATIONS ? [`${f.invocations} invocation(s) ${name} the switch`] : [],
  );
  if (thin.length > 0) {
    return {
      verdict: "insufficient data",
      reasons: [`${thin.join(" and ")}; at least ${MIN_INVOCATIONS} per window are needed`, ...notes],
    };
  }
  // Rates and p95 exist from here on: both windows have invocations.
  const rateBefore = rateOf(before) as number;
  const rateAfter = rateOf(after) as number;
  // Compared on exact figures; a hair of float error must not cross the threshold.
  const points = round((rateAfter - rateBefore) * 100, 9);
  const rateText = `error rate ${percent(rateBefore)} → ${percent(rateAfter)}`;
  const p95Before = before.durationP95Ms;
  const p95After = after.durationP95Ms;
  const ms = (value: number | null) => (value === null ? "n/a" : `${value} ms`);
  const p95Text = `p95 ${ms(p95Before)} → ${ms(p95After)}`;
  const p95Ratio = p95Before !== null && p95After !== null && p95Before > 0 ? p95After / p95Before - 1 : null;
  const worse: string[] = [];
  const better: string[] = [];
  if (points > RATE_POINTS_THRESHOLD)
    worse.push(`${rateText} (up ${change.errorRatePoints} points, more than ${RATE_POINTS_THRESHOLD})`);
  if (points < -RATE_POINTS_THRESHOLD)
    better.push(`${rateText} (down ${-(change.errorRatePoints ?? 0)} points)`);
  if (newGroups > 0) worse.push(`${newGroups} error group(s) after the switch that were not seen before it`);
  if (p95Ratio !== null && round(p95Ratio, 9) > P95_CHANGE_THRESHOLD)
    worse.push(`${p95Text} (up ${change.durationP95Percent}%, more than ${P95_CHANGE_THRESHOLD * 100}%)`);
  if (p95Ratio !== null && round(p95Ratio, 9) < -P95_CHANGE_THRESHOLD)
    better.push(`${p95Text} (down ${-(change.durationP95Percent ?? 0)}%)`);
  if (worse.length > 0) return { verdict: "worse", reasons: [...worse, ...notes] };
  if (better.length > 0) return { verdict: "better", reasons: [...better, ...notes] };
  return {
    verdict: "same",
    reasons: [
      `${rateText} and ${p95Text}: within ${RATE_POINTS_THRESHOLD} point and ${P95_CHANGE_THRESHOLD * 100}%, no new error groups`,
      ...notes,
    ],
  };
}
