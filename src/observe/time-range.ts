import { DeployError } from "../core/errors.js";

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

/** Parses a `since`/`until` value into epoch milliseconds; errors name the field. */
export function parseTimePoint(field: string, value: string, nowMs: number): number {
  const text = value.trim();
  const duration = DURATION_RE.exec(text);
  if (duration) {
    const amount = Number(duration[1]);
    const unit = UNIT_MS[(duration[2] ?? "").toLowerCase()] as number;
    return nowMs - amount * unit;
  }
  if (ISO_RE.test(text)) {
    // A date-time without a zone is read as UTC, as CloudWatch shows times.
    const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text) || !/[T ]/.test(text);
    const ms = Date.parse(hasZone ? text : `${text}Z`);
    if (Number.isFinite(ms)) return ms;
  }
  throw new DeployError("INPUT_INVALID", `${field}: "${value.slice(0, 60)}" is not ${ACCEPTED}.`);
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
