/**
 * Parses one CloudWatch log event of a Lambda function: Powertools JSON lines, the runtime's
 * START/END/REPORT lines, "Task timed out" lines, the Python runtime's plain
 * `[LEVEL]\t<time>\t<requestId>\t<message>` lines and its unhandled-error JSON. Nothing here
 * redacts: callers redact `message` before it leaves (see logs.ts).
 */
export type LogKind = "app" | "start" | "end" | "report" | "timeout";

export interface ReportFacts {
  durationMs: number | null;
  billedDurationMs: number | null;
  memorySizeMb: number | null;
  maxMemoryUsedMb: number | null;
  /** Present only on a cold start. */
  initDurationMs: number | null;
  /** Newer runtimes add `Status: timeout` / `Status: error` to REPORT. */
  status: string | null;
}

export interface ParsedLogEvent {
  timestampMs: number;
  kind: LogKind;
  /** Upper-case: DEBUG, INFO, WARNING, ERROR, CRITICAL, or UNKNOWN for unstructured text. */
  level: string;
  message: string;
  requestId: string | null;
  service: string | null;
  /** Powertools `cold_start`; null when the line does not say. */
  coldStart: boolean | null;
  report: ReportFacts | null;
}

export const LEVEL_RANK: Record<string, number> = {
  DEBUG: 10,
  INFO: 20,
  WARNING: 30,
  ERROR: 40,
  CRITICAL: 50,
};

const LEVEL_ALIASES: Record<string, string> = {
  WARN: "WARNING",
  FATAL: "CRITICAL",
  TRACE: "DEBUG",
  ERR: "ERROR",
};

export function normaliseLevel(level: unknown): string {
  if (typeof level !== "string" || !level.trim()) return "UNKNOWN";
  const upper = level.trim().toUpperCase();
  const canonical = LEVEL_ALIASES[upper] ?? upper;
  return canonical in LEVEL_RANK ? canonical : "UNKNOWN";
}

/** Rank for minimum-level filtering; UNKNOWN ranks below DEBUG so any level filter drops it. */
export function levelRank(level: string): number {
  return LEVEL_RANK[level] ?? 0;
}

const REQUEST_ID = "([0-9a-fA-F-]{8,})";
const START_RE = new RegExp(`^START RequestId: ${REQUEST_ID}`);
const END_RE = new RegExp(`^END RequestId: ${REQUEST_ID}`);
const REPORT_RE = new RegExp(`^REPORT RequestId: ${REQUEST_ID}`);
const TIMEOUT_RE = /Task timed out after ([\d.]+) seconds/;
const TIMEOUT_PREFIX_RE = new RegExp(`^(?:\\S+\\s+)?${REQUEST_ID}\\s+Task timed out`);
const PLAIN_RE =
  /^\[(DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|FATAL)\]\s+(\d{4}-\d{2}-\d{2}T\S+)\s+([0-9a-fA-F-]{8,})?\s*([\s\S]*)$/;
const LEADING_LEVEL_RE = /^\s*\[?(DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|FATAL)\]?[\s:]/;

function reportNumber(line: string, label: string): number | null {
  const match = new RegExp(`${label}:\\s*([\\d.]+)`).exec(line);
  if (!match?.[1]) return null;
  const value = Number(match[1]);
  return Number.isFinite(value) ? value : null;
}

function parseReport(line: string): ReportFacts {
  const status = /\bStatus:\s*(\w+)/.exec(line)?.[1] ?? null;
  return {
    // "Billed Duration" also contains "Duration": anchor the plain one on a non-letter before it.
    durationMs: reportNumber(
      line.replace(/Billed Duration|Init Duration|Restore Duration/g, "_"),
      "Duration",
    ),
    billedDurationMs: reportNumber(line, "Billed Duration"),
    memorySizeMb: reportNumber(line, "Memory Size"),
    maxMemoryUsedMb: reportNumber(line, "Max Memory Used"),
    initDurationMs: reportNumber(line, "Init Duration"),
    status,
  };
}

function stringField(record: Record<string, unknown>, ...keys: string[]): string | null {
  for (const key of keys) {
    const value = record[key];
    if (typeof value === "string" && value) return value;
  }
  return null;
}

function parseJsonLine(text: string): Record<string, unknown> | null {
  if (!text.startsWith("{")) return null;
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function fromJson(record: Record<string, unknown>, timestampMs: number): ParsedLogEvent {
  // The Python runtime logs an unhandled exception as {"errorMessage", "errorType", ...}.
  const errorMessage = stringField(record, "errorMessage");
  let message: string;
  let level: string;
  if (errorMessage !== null && record.level === undefined) {
    const type = stringField(record, "errorType");
    message = type ? `${type}: ${errorMessage}` : errorMessage;
    level = "ERROR";
  } else {
    const raw = record.message ?? record.msg;
    message =
      typeof raw === "string" ? raw : raw === undefined ? JSON.stringify(record) : JSON.stringify(raw);
    level = normaliseLevel(record.level ?? record.levelname ?? record.severity);
    const exception = stringField(record, "exception_name", "exception", "error");
    if (exception && level !== "UNKNOWN" && levelRank(level) >= LEVEL_RANK.ERROR!) {
      const firstLine = exception.split("\n").find((l) => l.trim()) ?? "";
      if (firstLine && !message.includes(firstLine)) message = `${message} (${firstLine.trim()})`;
    }
  }
  const coldStart = typeof record.cold_start === "boolean" ? record.cold_start : null;
  return {
    timestampMs,
    kind: "app",
    level,
    message,
    requestId: stringField(record, "function_request_id", "requestId", "request_id", "awsRequestId"),
    service: stringField(record, "service"),
    coldStart,
    report: null,
  };
}

export function parseLogEvent(rawMessage: string, timestampMs: number): ParsedLogEvent {
  const text = rawMessage.replace(/\s+$/, "");
  const base = { timestampMs, service: null, coldStart: null, report: null };
  let match = REPORT_RE.exec(text);
  if (match) {
    return {
      ...base,
      kind: "report",
      level: "INFO",
      message: text,
      requestId: match[1] ?? null,
      report: parseReport(text),
    };
  }
  match = START_RE.exec(text);
  if (match) return { ...base, kind: "start", level: "INFO", message: text, requestId: match[1] ?? null };
  match = END_RE.exec(text);
  if (match) return { ...base, kind: "end", level: "INFO", message: text, requestId: match[1] ?? null };
  if (TIMEOUT_RE.test(text)) {
    const requestId = TIMEOUT_PREFIX_RE.exec(text)?.[1] ?? null;
    const message = text.slice(text.indexOf("Task timed out"));
    return { ...base, kind: "timeout", level: "ERROR", message, requestId };
  }
  const json = parseJsonLine(text);
  if (json) return fromJson(json, timestampMs);
  const plain = PLAIN_RE.exec(text);
  if (plain) {
    return {
      ...base,
      kind: "app",
      level: normaliseLevel(plain[1]),
      message: (plain[4] ?? "").trim() || text,
      requestId: plain[3] ?? null,
    };
  }
  const leading = LEADING_LEVEL_RE.exec(text);
  const level = leading
    ? normaliseLevel(leading[1])
    : /^Traceback \(most recent call last\)/.test(text)
      ? "ERROR"
      : "UNKNOWN";
  return { ...base, kind: "app", level, message: text, requestId: null };
}
