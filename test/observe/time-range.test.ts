import { describe, expect, it } from "vitest";
import { DeployError } from "../../src/core/errors.js";
import { MAX_LOOKBACK_DAYS, parseTimePoint, parseTimeRange } from "../../src/observe/time-range.js";

const now = Date.parse("2026-11-25T12:00:00Z");
const DAY = 86_400_000;

function errorOf(fn: () => unknown): DeployError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DeployError);
    return error as DeployError;
  }
  throw new Error("expected an error");
}

describe("absurd and hostile time points are clear errors naming the field", () => {
  it.each([
    ["since", "99999999999999999999999d"],
    ["since", "99999999999999999999999w"],
    ["until", "1e400"],
    ["since", "3654d"],
    ["since", "999999999999999999999999999999999999999999999999999999999999s"],
    ["until", "0001-01-01"],
    ["since", "1969-12-31T23:59:59Z"],
  ])("%s: %s", (field, value) => {
    const error = errorOf(() => parseTimePoint(field, value, now));
    expect(error.code).toBe("INPUT_INVALID");
    expect(error.message.startsWith(`${field}: "`)).toBe(true);
    expect(error.message).not.toMatch(/Unexpected|Invalid time value|NaN|Infinity/);
    expect(error.message.length).toBeLessThan(300);
  });

  it("the furthest look-back CloudWatch keeps is still accepted", () => {
    expect(parseTimePoint("since", `${MAX_LOOKBACK_DAYS}d`, now)).toBe(now - MAX_LOOKBACK_DAYS * DAY);
    expect(parseTimePoint("since", "520w", now)).toBe(now - 520 * 7 * DAY);
    expect(() => parseTimePoint("since", `${MAX_LOOKBACK_DAYS + 1}d`, now)).toThrow(
      /since: "3654d" reaches back more than 3653 days/,
    );
  });

  it("a huge value is quoted short, with control characters replaced", () => {
    const huge = `${"9".repeat(1_000_000)}d`;
    const error = errorOf(() => parseTimePoint("since", huge, now));
    expect(error.message).toMatch(/^since: "9{60}…" is longer than 64 characters/);
    expect(error.message.length).toBeLessThan(300);
    const control = errorOf(() => parseTimePoint("until", "1h\u0000\u001b[2J", now));
    expect(control.message).toContain('until: "1h??[2J" is not a duration');
  });

  it("a range from absurd input never reaches Date#toISOString with an invalid time", () => {
    expect(() => parseTimeRange("99999999999999999999999d", undefined, now)).toThrow(/^since: /);
    expect(() => parseTimeRange("15m", "99999999999999999999999d", now)).toThrow(/^until: /);
    expect(parseTimeRange("7d", "1d", now)).toEqual({ startMs: now - 7 * DAY, endMs: now - DAY });
  });
});
