import { setTimeout as sleep } from "node:timers/promises";
import {
  type CloudWatchLogsClient,
  DescribeLogGroupsCommand,
  type FilteredLogEvent,
  FilterLogEventsCommand,
  type FilterLogEventsCommandInput,
  StartLiveTailCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import { CancelledError, DeployError, throwIfAborted } from "../core/errors.js";
import { redactLines } from "../core/redact.js";
import { levelRank, normaliseLevel, type ParsedLogEvent, parseLogEvent } from "./log-parse.js";
import { type LogStats, LogStatsCollector } from "./log-stats.js";

export interface LogEventOut {
  timestamp: string;
  level: string;
  /** Redacted, bounded, untrusted log text. */
  message: string;
  requestId: string | null;
}

export interface LogQueryResult {
  events: LogEventOut[];
  /** Over every scanned event of the window (and request, when one is given). */
  stats: LogStats;
  truncated: boolean;
  narrowHint?: string;
  scanned: number;
  /** Events that passed the level/requestId filters (returned or not). */
  matched: number;
}

export interface RawLogEvent {
  timestamp: number;
  message: string;
  eventId?: string;
  /** The stream the event was read from (a Lambda's is `YYYY/MM/DD/[VERSION]<id>`). */
  logStreamName?: string;
}

export interface QueryLogsOptions {
  logs: CloudWatchLogsClient;
  logGroup: string;
  startMs: number;
  endMs?: number;
  filterPattern?: string;
  /** Minimum level (DEBUG < INFO < WARNING < ERROR < CRITICAL) of returned events. */
  level?: string;
  requestId?: string;
  /** Events returned at most (the most recent ones). */
  limit: number;
  memorySizeMb?: number | null;
  signal?: AbortSignal;
  /** Events scanned at most; the window beyond is reported as truncated. */
  maxEvents?: number;
}

export const DEFAULT_MAX_SCANNED_EVENTS = 20_000;
// Claude Code shows ~25k tokens (~100 KB) of tool output; 48 KB of events, counted as the
// pretty-printed JSON the client receives, leaves room for the stats and the summary.
const EVENTS_BUDGET_BYTES = 48 * 1024;
// Indentation and punctuation a pretty-printed event object adds beyond its compact JSON.
const EVENT_JSON_OVERHEAD_BYTES = 40;
const MESSAGE_CAP_BYTES = 1024;
// FilterLogEvents returns at most 10,000 events per page.
const MAX_PAGE_EVENTS = 10_000;

function capMessage(message: string): string {
  const bytes = Buffer.byteLength(message, "utf8");
  if (bytes <= MESSAGE_CAP_BYTES) return message;
  const cut = Buffer.from(message, "utf8")
    .subarray(0, MESSAGE_CAP_BYTES)
    .toString("utf8")
    .replace(/\uFFFD$/, "");
  return `${cut}… [${bytes - Buffer.byteLength(cut, "utf8")} more bytes]`;
}

/**
 * The events of one query window: parses and redacts each raw event once, feeds the stats
 * (over everything scanned) and keeps the most recent matching events for the answer.
 * `tail_logs` also feeds followed events into the same window.
 */
export class LogWindow {
  private readonly stats = new LogStatsCollector();
  private readonly kept: LogEventOut[] = [];
  private readonly minRank: number;
  private scannedCount = 0;
  private matchedCount = 0;
  private hitScanBound = false;

  constructor(
    private readonly options: {
      level?: string | undefined;
      requestId?: string | undefined;
      limit: number;
      maxEvents: number;
      memorySizeMb?: number | null | undefined;
      /**
       * Sees each event the stats see (after the requestId filter), parsed and redacted, for
       * figures the stats do not keep (log-compare.ts counts errors and error-group keys).
       */
      onParsed?: ((event: ParsedLogEvent) => void) | undefined;
    },
  ) {
    this.minRank = options.level ? levelRank(normaliseLevel(options.level)) : 0;
  }

  get scanned(): number {
    return this.scannedCount;
  }

  get full(): boolean {
    return this.scannedCount >= this.options.maxEvents;
  }

  /** True when more events existed than the scan bound allowed (stats cover those scanned). */
  get scanBoundHit(): boolean {
    return this.hitScanBound;
  }

  /** Marks that more events existed than the scan bound allowed. */
  markScanBoundHit(): void {
    this.hitScanBound = true;
  }

  /** Adds one raw event; returns it as output when it passes the filters, else null. */
  add(raw: RawLogEvent): LogEventOut | null {
    return this.addAll([raw])[0] ?? null;
  }

  /**
   * Adds a batch of raw events (one page); returns each as output when it passes the filters.
   * Safety: log text is untrusted and may hold credentials. The batch's messages are redacted
   * as one text, so a key or PEM block split over several events is still seen whole; stats
   * and error groups are built from the redacted text so no secret survives into any field.
   */
  addAll(raws: readonly RawLogEvent[]): Array<LogEventOut | null> {
    const room = Math.max(0, this.options.maxEvents - this.scannedCount);
    if (raws.length > room) this.hitScanBound = true;
    const parsed = raws.slice(0, room).map((raw) => parseLogEvent(raw.message, raw.timestamp));
    const redacted = redactLines(parsed.map((p) => p.message));
    return parsed.map((event, i) => {
      event.message = redacted[i] as string;
      return this.accept(event);
    });
  }

  private accept(parsed: ReturnType<typeof parseLogEvent>): LogEventOut | null {
    this.scannedCount++;
    if (this.options.requestId && parsed.requestId !== this.options.requestId) return null;
    this.stats.add(parsed);
    this.options.onParsed?.(parsed);
    if (this.minRank > 0 && levelRank(parsed.level) < this.minRank) return null;
    this.matchedCount++;
    const out: LogEventOut = {
      timestamp: new Date(parsed.timestampMs).toISOString(),
      level: parsed.level,
      message: capMessage(parsed.message),
      requestId: parsed.requestId,
    };
    this.kept.push(out);
    // Keep memory bounded: only the most recent `limit` events can be returned.
    if (this.kept.length > this.options.limit * 2) this.kept.splice(0, this.kept.length - this.options.limit);
    return out;
  }

  result(): LogQueryResult {
    const recent = this.kept.slice(-this.options.limit);
    // Fill the byte budget from the most recent event backwards.
    const events: LogEventOut[] = [];
    let bytes = 0;
    for (let i = recent.length - 1; i >= 0; i--) {
      const event = recent[i] as LogEventOut;
      const size = Buffer.byteLength(JSON.stringify(event), "utf8") + EVENT_JSON_OVERHEAD_BYTES;
      if (bytes + size > EVENTS_BUDGET_BYTES) break;
      bytes += size;
      events.push(event);
    }
    events.reverse();
    events.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    const truncated = this.hitScanBound || events.length < this.matchedCount;
    const result: LogQueryResult = {
      events,
      stats: this.stats.result(this.options.memorySizeMb ?? null),
      truncated,
      scanned: this.scannedCount,
      matched: this.matchedCount,
    };
    if (truncated) result.narrowHint = this.narrowHint(events.length);
    return result;
  }

  private narrowHint(returned: number): string {
    const what = this.hitScanBound
      ? `Scanned the first ${this.scannedCount} events only (more exist; stats cover those scanned).`
      : `Returned the ${returned} most recent of ${this.matchedCount} matching events (stats cover all).`;
    const ways = ["a shorter window (since/until)"];
    if (!this.options.level) ways.push('level: "ERROR"');
    if (!this.options.requestId) ways.push("requestId from an error group");
    ways.push("a filterPattern term");
    return `${what} To narrow: ${ways.join(", ")}.`;
  }
}

/** Reads a window of a log group, bounded, and summarises it. */
export async function queryLogs(options: QueryLogsOptions): Promise<LogQueryResult> {
  const window = new LogWindow({
    level: options.level,
    requestId: options.requestId,
    limit: options.limit,
    maxEvents: options.maxEvents ?? DEFAULT_MAX_SCANNED_EVENTS,
    memorySizeMb: options.memorySizeMb,
  });
  await scanLogEvents({ ...options, window });
  return window.result();
}

/**
 * Pages through FilterLogEvents into `window` until the window is full. Returns the ids of
 * events at or after `overlapFromMs` so a follow can skip them.
 */
export async function scanLogEvents(options: {
  logs: CloudWatchLogsClient;
  logGroup: string;
  startMs: number;
  endMs?: number | undefined;
  filterPattern?: string | undefined;
  signal?: AbortSignal | undefined;
  window: LogWindow;
  onEvent?: (event: RawLogEvent, out: LogEventOut | null) => void;
}): Promise<{ lastTimestampMs: number | null; eventIds: Set<string> }> {
  const { logs, logGroup, window, signal } = options;
  let nextToken: string | undefined;
  let lastTimestampMs: number | null = null;
  const eventIds = new Set<string>();
  do {
    throwIfAborted(signal);
    if (window.full) {
      window.markScanBoundHit();
      break;
    }
    const page = await filterPage(
      logs,
      {
        logGroupName: logGroup,
        startTime: options.startMs,
        ...(options.endMs !== undefined ? { endTime: options.endMs } : {}),
        ...(options.filterPattern ? { filterPattern: options.filterPattern } : {}),
        ...(nextToken ? { nextToken } : {}),
        limit: MAX_PAGE_EVENTS,
      },
      signal,
    );
    const raws = (page.events ?? []).flatMap((event) => toRaw(event) ?? []);
    const outs = window.addAll(raws);
    outs.forEach((out, i) => {
      const raw = raws[i] as RawLogEvent;
      options.onEvent?.(raw, out);
      lastTimestampMs = Math.max(lastTimestampMs ?? raw.timestamp, raw.timestamp);
      if (raw.eventId) eventIds.add(raw.eventId);
    });
    if (window.full && outs.length < raws.length) break;
    nextToken = page.nextToken;
  } while (nextToken);
  return { lastTimestampMs, eventIds };
}

function toRaw(event: FilteredLogEvent): RawLogEvent | null {
  if (event.timestamp === undefined || event.message === undefined) return null;
  return {
    timestamp: event.timestamp,
    message: event.message,
    ...(event.eventId ? { eventId: event.eventId } : {}),
    ...(event.logStreamName ? { logStreamName: event.logStreamName } : {}),
  };
}

/**
 * The raw events of a window, a FilterLogEvents page at a time, with their stream names: for
 * callers that sort events into windows of their own (a canary's per-version figures) before
 * LogWindow parses and redacts them.
 */
export async function* logEventPages(options: {
  logs: CloudWatchLogsClient;
  logGroup: string;
  startMs: number;
  endMs?: number | undefined;
  signal?: AbortSignal | undefined;
}): AsyncGenerator<RawLogEvent[]> {
  let nextToken: string | undefined;
  do {
    throwIfAborted(options.signal);
    const page = await filterPage(
      options.logs,
      {
        logGroupName: options.logGroup,
        startTime: options.startMs,
        ...(options.endMs !== undefined ? { endTime: options.endMs } : {}),
        ...(nextToken ? { nextToken } : {}),
        limit: MAX_PAGE_EVENTS,
      },
      options.signal,
    );
    yield (page.events ?? []).flatMap((event) => toRaw(event) ?? []);
    nextToken = page.nextToken;
  } while (nextToken);
}

async function filterPage(
  logs: CloudWatchLogsClient,
  input: FilterLogEventsCommandInput,
  signal: AbortSignal | undefined,
) {
  try {
    return await logs.send(new FilterLogEventsCommand(input), signal ? { abortSignal: signal } : {});
  } catch (error) {
    if (signal?.aborted) throw new CancelledError();
    if (isAwsErrorNamed(error, "ResourceNotFoundException")) {
      throw new DeployError(
        "AWS_NOT_FOUND",
        `Log group ${input.logGroupName} does not exist. The function may never have run in this region, or the env's logGroup setting is wrong; set "logGroup" in deploy.config.json if it logs elsewhere.`,
        { cause: error },
      );
    }
    throw mapAwsError(error, "logs:FilterLogEvents", input.logGroupName);
  }
}

export interface FollowOptions {
  logs: CloudWatchLogsClient;
  logGroup: string;
  /** Polling starts here (StartLiveTail only sees events ingested after it starts). */
  fromMs: number;
  durationMs: number;
  filterPattern?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Ids already seen by the window scan, skipped when polling overlaps it. */
  seenEventIds?: Set<string>;
  onEvent: (event: RawLogEvent) => void;
  /** Stop early (e.g. the window is full). */
  shouldStop?: () => boolean;
  now?: () => number;
  /** First polling pause; doubles while nothing new arrives, up to maxPollIntervalMs. */
  pollIntervalMs?: number;
  maxPollIntervalMs?: number;
}

export interface FollowOutcome {
  mode: "live_tail" | "polling";
  received: number;
  /** Why live tail was not used, when it was not. */
  liveTailUnavailable?: string;
}

/**
 * Follows a log group for `durationMs`: StartLiveTail where the service offers it, otherwise
 * (moto 5.2.1, older partitions, a role without logs:StartLiveTail) FilterLogEvents polling
 * from the last seen timestamp with backoff.
 */
export async function followLogs(options: FollowOptions): Promise<FollowOutcome> {
  const now = options.now ?? Date.now;
  const deadline = now() + options.durationMs;
  const live = await tryLiveTail(options, deadline, now);
  if (live.mode === "live_tail") return live;
  const received = await pollLogs(options, deadline, now);
  return { mode: "polling", received, liveTailUnavailable: live.reason };
}

type LiveTailAttempt = (FollowOutcome & { mode: "live_tail" }) | { mode: "unavailable"; reason: string };

function liveTailUnsupported(error: unknown): string | null {
  const err = error as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = err?.$metadata?.httpStatusCode;
  const text = `${err?.name ?? ""} ${err?.message ?? ""}`;
  if (
    /UnknownOperation|InvalidAction|NotImplemented|not (yet )?implemented|unknown operation|not supported/i.test(
      text,
    )
  )
    return `StartLiveTail is not supported by this endpoint (${err?.name ?? "error"})`;
  if (status === 404 || status === 501)
    return `StartLiveTail is not supported by this endpoint (HTTP ${status})`;
  if (isAwsErrorNamed(error, "AccessDeniedException", "AccessDenied"))
    return "the caller may not use logs:StartLiveTail";
  // The SDK prefixes StartLiveTail's host ("streaming-logs."); an emulator or proxy endpoint
  // given by IP or custom name then does not resolve.
  if (["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED"].includes(err?.code ?? ""))
    return `the StartLiveTail endpoint is unreachable (${err?.code})`;
  return null;
}

async function tryLiveTail(
  options: FollowOptions,
  deadline: number,
  now: () => number,
): Promise<LiveTailAttempt> {
  const { logs, signal } = options;
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - now()));
  let received = 0;
  let started = false;
  try {
    const arn = await logGroupArn(logs, options.logGroup);
    const response = await logs.send(
      new StartLiveTailCommand({
        logGroupIdentifiers: [arn],
        ...(options.filterPattern ? { logEventFilterPattern: options.filterPattern } : {}),
      }),
      { abortSignal: controller.signal },
    );
    started = true;
    const stream = response.responseStream;
    if (!stream) return { mode: "live_tail", received };
    const iterator = stream[Symbol.asyncIterator]();
    // The window ends on time even if the stream does not react to the abort promptly.
    const ended = new Promise<null>((resolve) => {
      if (controller.signal.aborted) resolve(null);
      controller.signal.addEventListener("abort", () => resolve(null), { once: true });
    });
    try {
      for (;;) {
        const next = await Promise.race([iterator.next(), ended]);
        if (next === null || next.done) break;
        const part = next.value;
        if (part.SessionStreamingException || part.SessionTimeoutException) break;
        for (const event of part.sessionUpdate?.sessionResults ?? []) {
          if (event.timestamp === undefined || event.message === undefined) continue;
          options.onEvent({ timestamp: event.timestamp, message: event.message });
          received++;
        }
        if (options.shouldStop?.() || now() >= deadline) break;
      }
    } finally {
      // Closing the iterator ends the session; a stream that never settles must not block us.
      void iterator.return?.()?.catch(() => {});
    }
    if (signal?.aborted) throw new CancelledError();
    return { mode: "live_tail", received };
  } catch (error) {
    if (signal?.aborted) throw new CancelledError();
    // The window ended while the stream was open: that is how a follow finishes.
    if (started && controller.signal.aborted) return { mode: "live_tail", received };
    const reason = started ? null : liveTailUnsupported(error);
    if (reason === null) throw mapAwsError(error, "logs:StartLiveTail", options.logGroup);
    return { mode: "unavailable", reason };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    controller.abort();
  }
}

/** StartLiveTail wants the group's ARN without the trailing ":*" DescribeLogGroups shows. */
async function logGroupArn(logs: CloudWatchLogsClient, logGroup: string): Promise<string> {
  const out = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: logGroup }));
  const group = out.logGroups?.find((g) => g.logGroupName === logGroup);
  if (!group) {
    throw new DeployError("AWS_NOT_FOUND", `Log group ${logGroup} does not exist; nothing to follow.`);
  }
  return group.logGroupArn ?? (group.arn ?? "").replace(/:\*$/, "");
}

async function pollLogs(options: FollowOptions, deadline: number, now: () => number): Promise<number> {
  const base = options.pollIntervalMs ?? 1000;
  const maxInterval = options.maxPollIntervalMs ?? 5000;
  const seen = new Set(options.seenEventIds ?? []);
  let since = options.fromMs;
  let interval = base;
  let received = 0;
  // Poll, then pause; the last pause ends at the deadline and is followed by a final poll.
  for (;;) {
    throwIfAborted(options.signal);
    let fresh = 0;
    let nextToken: string | undefined;
    do {
      const page = await filterPage(
        options.logs,
        {
          logGroupName: options.logGroup,
          startTime: since,
          ...(options.filterPattern ? { filterPattern: options.filterPattern } : {}),
          ...(nextToken ? { nextToken } : {}),
        },
        options.signal,
      );
      for (const event of page.events ?? []) {
        const raw = toRaw(event);
        const id = event.eventId ?? `${event.timestamp}:${event.logStreamName}:${event.message}`;
        if (!raw || seen.has(id)) continue;
        seen.add(id);
        since = Math.max(since, raw.timestamp);
        options.onEvent(raw);
        fresh++;
      }
      nextToken = page.nextToken;
    } while (nextToken && !options.shouldStop?.());
    received += fresh;
    const wait = deadline - now();
    if (wait <= 0 || options.shouldStop?.()) break;
    // Quiet log groups are polled less often; a burst resets the pace.
    interval = fresh > 0 ? base : Math.min(interval * 2, maxInterval);
    try {
      await sleep(
        Math.min(interval, wait),
        undefined,
        options.signal ? { signal: options.signal } : undefined,
      );
    } catch {
      throw new CancelledError();
    }
  }
  return received;
}
