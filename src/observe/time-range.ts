import { DeployError } from "../core/errors.js";
import { quote } from "../core/quote.js";

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};
const DURATION_RE = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i;
// An ISO date or date-time; a bare date is midnight UTC.
const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;
const ACCEPTED = "a duration back from now (30s, 15m, 2h, 1d) or an ISO time (2026-01-31T09:30:00Z)";
/** The longest look-back: CloudWatch Logs keeps events at most 10 years (3653 days). */
export const MAX_LOOKBACK_DAYS = 3653;
const MAX_LOOKBACK_MS = MAX_LOOKBACK_DAYS * 86_400_000;
/** A time point is at most this long; longer text is refused before any pattern runs on it. */
const MAX_TEXT_CHARS = 64;
const QUOTE_CHARS = 60;

/**
 * Parses a `since`/`until` value into epoch milliseconds; errors name the field. A point
 * reaching back further than CloudWatch keeps logs (or before 1970) is an error, not a
 * number that breaks later (`99999999999999999999999d`).
 */
export function parseTimePoint(field: string, value: string, nowMs: number): number {
  if (value.length > MAX_TEXT_CHARS) {
    throw new DeployError(
      "INPUT_INVALID",
      `${field}: "${quoteInput(value)}" is longer than ${MAX_TEXT_CHARS} characters; give ${ACCEPTED}.`,
    );
  }
  const text = value.trim();
  const duration = DURATION_RE.exec(text);
  let ms: number | null = null;
  if (duration) {
    const amount = Number(duration[1]);
    const unit = UNIT_MS[(duration[2] ?? "").toLowerCase()] as number;
    ms = nowMs - amount * unit;
  } else if (ISO_RE.test(text)) {
    // A date-time without a zone is read as UTC, as CloudWatch shows times.
    const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text) || !/[T ]/.test(text);
    const parsed = Date.parse(hasZone ? text : `${text}Z`);
    if (Number.isFinite(parsed)) ms = parsed;
  }
  if (ms === null) {
    throw new DeployError("INPUT_INVALID", `${field}: "${quoteInput(value)}" is not ${ACCEPTED}.`);
  }
  if (!Number.isFinite(ms) || ms < Math.max(0, nowMs - MAX_LOOKBACK_MS)) {
    throw new DeployError(
      "INPUT_INVALID",
      `${field}: "${quoteInput(value)}" reaches back more than ${MAX_LOOKBACK_DAYS} days (10 years, the longest CloudWatch keeps logs); give a later time or a shorter duration, e.g. 15m, 2h, 7d.`,
    );
  }
  return ms;
}

/** At most QUOTE_CHARS of the caller's text, control characters replaced. */
function quoteInput(value: string): string {
  return quote(value, QUOTE_CHARS);
}

export interface TimeRange {
  startMs: number;
  endMs: number;
}

/** Resolves `since` (required) and `until` (default now) into a range; until before since is an error. */
export function parseTimeRange(since: string, until: string | undefined, nowMs: number): TimeRange {
  const startMs = parseTimePoint("since", since, nowMs);
  const endMs = until === undefined ? nowMs : parseTimePoint("until", until, nowMs);
  if (startMs > nowMs) {
    throw new DeployError(
      "INPUT_INVALID",
      `since (${new Date(startMs).toISOString()}) is in the future; give a past time or a duration like 15m.`,
    );
  }
  if (endMs < startMs) {
    throw new DeployError(
      "INPUT_INVALID",
      `until (${new Date(endMs).toISOString()}) is before since (${new Date(startMs).toISOString()}); give an until later than since, or omit it for now.`,
    );
  }
  return { startMs, endMs };
}
