import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { VersionFigures } from "./canary-schema.js";
import { LEVEL_RANK, levelRank, type ParsedLogEvent } from "./log-parse.js";
import { LogWindow, logEventPages, type RawLogEvent } from "./logs.js";

/**
 * A Lambda canary's figures per version, read from the function's log group. Lambda names a
 * version's log streams `YYYY/MM/DD/[VERSION]<instance id>`, so each event is counted for the
 * version in its stream's name; parsing, redaction and stats are logs.ts's LogWindow (one
 * window per version), nothing of its own.
 */

/** `2026/11/25/[7]0a1b…` → "7"; `…/[$LATEST]…` → "$LATEST"; anything else → null. */
const STREAM_VERSION = /^\d{4}\/\d{2}\/\d{2}\/\[(\d{1,10}|\$LATEST)\]/;

export function lambdaVersionOfStream(streamName: string | undefined): string | null {
  return streamName ? (STREAM_VERSION.exec(streamName)?.[1] ?? null) : null;
}

/** Events per version kept in the stats at most; beyond it the figures say `truncated`. */
export const MAX_EVENTS_PER_VERSION = 200_000;
/**
 * Each read starts this far before where the previous one ended: CloudWatch may ingest an
 * event seconds after its timestamp. Events seen before are skipped by id.
 */
export const INGESTION_OVERLAP_MS = 30_000;
const ERROR_GROUPS_SHOWN = 3;
const ERROR_GROUP_CHARS = 400;

class VersionTally {
  readonly window: LogWindow;
  private readonly errorRequests = new Set<string>();
  private anonymousErrors = 0;

  constructor(maxEvents: number) {
    this.window = new LogWindow({
      level: "ERROR",
      limit: 1,
      maxEvents,
      onParsed: (event) => this.count(event),
    });
  }

  private count(event: ParsedLogEvent): void {
    // A timeout is counted by the stats (once per request); errors are the other failures.
    if (event.kind === "timeout" || levelRank(event.level) < (LEVEL_RANK.ERROR ?? 40)) return;
    if (event.requestId) this.errorRequests.add(event.requestId);
    else this.anonymousErrors++;
  }

  figures(version: string): VersionFigures {
    const result = this.window.result();
    const { stats } = result;
    const errors = this.errorRequests.size + this.anonymousErrors;
    return {
      version,
      invocations: stats.invocations,
      errors,
      timeouts: stats.timeouts,
      errorRatePercent: ratePercent(errors, stats.invocations),
      timeoutRatePercent: ratePercent(stats.timeouts, stats.invocations),
      p50Ms: stats.durationP50Ms,
      p95Ms: stats.durationP95Ms,
      scanned: this.window.scanned,
      truncated: this.window.scanBoundHit,
      errorGroups: stats.errorGroups.slice(0, ERROR_GROUPS_SHOWN).map((g) => ({
        message:
          g.message.length > ERROR_GROUP_CHARS ? `${g.message.slice(0, ERROR_GROUP_CHARS - 1)}…` : g.message,
        count: g.count,
      })),
    };
  }
}

/**
 * `part` of `whole` in percent, two decimals, at most 100. With no finished invocation on
 * record, any failure counts as 100 %: log lines without REPORT lines are no reason to pass.
 */
export function ratePercent(part: number, whole: number): number {
  if (whole <= 0) return part > 0 ? 100 : 0;
  return Math.min(100, Math.round((part * 10_000) / whole) / 100);
}

export interface CanaryLogReaderOptions {
  logs: CloudWatchLogsClient;
  logGroup: string;
  canaryVersion: string;
  stableVersion: string;
  /** The window starts here (when the weights were set). */
  startMs: number;
  maxEventsPerVersion?: number;
  overlapMs?: number;
}

/**
 * Reads the window [startMs, until] incrementally: each read asks only for what is new (with
 * an overlap for late ingestion), so a bake's checks cost the new events, not the whole
 * window again. Both versions come from the same reads, so they cover the same window.
 */
export class CanaryLogReader {
  private readonly canary: VersionTally;
  private readonly stable: VersionTally;
  private readonly seen = new Map<string, number>();
  private readUntilMs: number | null = null;
  private otherEvents = 0;

  constructor(private readonly options: CanaryLogReaderOptions) {
    const max = options.maxEventsPerVersion ?? MAX_EVENTS_PER_VERSION;
    this.canary = new VersionTally(max);
    this.stable = new VersionTally(max);
  }

  /** Reads the events up to `untilMs` not read yet; throws what FilterLogEvents threw. */
  async read(untilMs: number, signal?: AbortSignal): Promise<void> {
    const overlap = this.options.overlapMs ?? INGESTION_OVERLAP_MS;
    const startMs =
      this.readUntilMs === null
        ? this.options.startMs
        : Math.max(this.options.startMs, this.readUntilMs - overlap);
    for await (const page of logEventPages({
      logs: this.options.logs,
      logGroup: this.options.logGroup,
      startMs,
      endMs: untilMs,
      signal,
    })) {
      const canary: RawLogEvent[] = [];
      const stable: RawLogEvent[] = [];
      for (const raw of page) {
        const id = raw.eventId ?? `${raw.timestamp}:${raw.logStreamName ?? ""}:${raw.message}`;
        if (this.seen.has(id)) continue;
        this.seen.set(id, raw.timestamp);
        const version = lambdaVersionOfStream(raw.logStreamName);
        if (version === this.options.canaryVersion) canary.push(raw);
        else if (version === this.options.stableVersion) stable.push(raw);
        else this.otherEvents++;
      }
      if (canary.length) this.canary.window.addAll(canary);
      if (stable.length) this.stable.window.addAll(stable);
    }
    this.readUntilMs = untilMs;
    // Only ids the next read's overlap can return again are worth remembering.
    const forgetBefore = untilMs - overlap;
    for (const [id, timestamp] of this.seen) if (timestamp < forgetBefore) this.seen.delete(id);
  }

  figures(): { canary: VersionFigures; stable: VersionFigures; otherEvents: number } {
    return {
      canary: this.canary.figures(this.options.canaryVersion),
      stable: this.stable.figures(this.options.stableVersion),
      otherEvents: this.otherEvents,
    };
  }
}
