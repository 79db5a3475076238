import { LEVEL_RANK, levelRank, type ParsedLogEvent } from "./log-parse.js";

export interface ErrorGroup {
  /** Normalised (ids, numbers folded), redacted, bounded message: untrusted log text. */
  message: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  sampleRequestId: string | null;
}

export interface LogStats {
  byLevel: Record<string, number>;
  errorGroups: ErrorGroup[];
  /** REPORT lines: one per finished invocation. */
  invocations: number;
  durationP50Ms: number | null;
  durationP95Ms: number | null;
  durationMaxMs: number | null;
  coldStarts: number;
  timeouts: number;
  maxMemoryUsedMb: number | null;
  /** Configured memory (from REPORT lines, else the function's configuration). */
  memorySizeMb: number | null;
}

const MAX_ERROR_GROUPS = 20;
const MAX_GROUP_MESSAGE_CHARS = 200;

/** Nearest-rank percentile; null for no values. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? null;
}

/**
 * Folds the parts of an error message that differ between occurrences of the same error
 * (uuids, hex ids, numbers, quoted values are kept) so they group together.
 */
export function normaliseErrorMessage(message: string): string {
  const folded = message
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "<uuid>")
    .replace(/\b(?:0x)?(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, "<hex>")
    .replace(/\d+(?:\.\d+)?/g, "<n>")
    .replace(/\s+/g, " ")
    .trim();
  return folded.length > MAX_GROUP_MESSAGE_CHARS ? `${folded.slice(0, MAX_GROUP_MESSAGE_CHARS)}…` : folded;
}

/**
 * Accumulates stats over every scanned event (not only the returned ones). Messages given to
 * `add` must already be redacted: error groups are built from them.
 */
export class LogStatsCollector {
  private readonly byLevel: Record<string, number> = {};
  private readonly groups = new Map<
    string,
    { count: number; first: number; last: number; sample: string | null }
  >();
  private readonly durations: number[] = [];
  private invocations = 0;
  private readonly coldRequestIds = new Set<string>();
  private anonymousColdStarts = 0;
  private readonly timeoutRequestIds = new Set<string>();
  private anonymousTimeouts = 0;
  private maxMemoryUsedMb: number | null = null;
  private memorySizeMb: number | null = null;

  add(event: ParsedLogEvent): void {
    this.byLevel[event.level] = (this.byLevel[event.level] ?? 0) + 1;
    if (levelRank(event.level) >= (LEVEL_RANK.ERROR ?? 40)) this.addError(event);
    if (event.kind === "timeout") this.countOnce(this.timeoutRequestIds, event.requestId, "timeout");
    if (event.coldStart === true) this.countOnce(this.coldRequestIds, event.requestId, "cold");
    const report = event.report;
    if (event.kind !== "report" || !report) return;
    this.invocations++;
    if (report.durationMs !== null) this.durations.push(report.durationMs);
    if (report.initDurationMs !== null) this.countOnce(this.coldRequestIds, event.requestId, "cold");
    if (report.status === "timeout") this.countOnce(this.timeoutRequestIds, event.requestId, "timeout");
    if (report.maxMemoryUsedMb !== null)
      this.maxMemoryUsedMb = Math.max(this.maxMemoryUsedMb ?? 0, report.maxMemoryUsedMb);
    if (report.memorySizeMb !== null) this.memorySizeMb = report.memorySizeMb;
  }

  /** A cold start or timeout is reported by several lines of the same request: count it once. */
  private countOnce(seen: Set<string>, requestId: string | null, what: "cold" | "timeout"): void {
    if (requestId) {
      seen.add(requestId);
    } else if (what === "cold") {
      this.anonymousColdStarts++;
    } else {
      this.anonymousTimeouts++;
    }
  }

  private addError(event: ParsedLogEvent): void {
    const key = normaliseErrorMessage(event.message);
    const group = this.groups.get(key);
    if (group) {
      group.count++;
      group.first = Math.min(group.first, event.timestampMs);
      group.last = Math.max(group.last, event.timestampMs);
      group.sample ??= event.requestId;
    } else {
      this.groups.set(key, {
        count: 1,
        first: event.timestampMs,
        last: event.timestampMs,
        sample: event.requestId,
      });
    }
  }

  result(configuredMemorySizeMb: number | null = null): LogStats {
    const errorGroups = [...this.groups.entries()]
      .sort((a, b) => b[1].count - a[1].count || a[1].first - b[1].first)
      .slice(0, MAX_ERROR_GROUPS)
      .map(([message, g]) => ({
        message,
        count: g.count,
        firstSeen: new Date(g.first).toISOString(),
        lastSeen: new Date(g.last).toISOString(),
        sampleRequestId: g.sample,
      }));
    return {
      byLevel: { ...this.byLevel },
      errorGroups,
      invocations: this.invocations,
      durationP50Ms: percentile(this.durations, 50),
      durationP95Ms: percentile(this.durations, 95),
      durationMaxMs: this.durations.length ? this.durations.reduce((a, b) => Math.max(a, b)) : null,
      coldStarts: this.coldRequestIds.size + this.anonymousColdStarts,
      timeouts: this.timeoutRequestIds.size + this.anonymousTimeouts,
      maxMemoryUsedMb: this.maxMemoryUsedMb,
      memorySizeMb: this.memorySizeMb ?? configuredMemorySizeMb,
    };
  }
}
