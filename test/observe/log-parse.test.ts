import { describe, expect, it } from "vitest";
import { parseLogEvent } from "../../src/observe/log-parse.js";
import { LogStatsCollector, normaliseErrorMessage, percentile } from "../../src/observe/log-stats.js";
import { LogWindow } from "../../src/observe/logs.js";
import { parseTimePoint, parseTimeRange } from "../../src/observe/time-range.js";

const T = Date.parse("2026-11-25T10:00:00.000Z");
const RID = "c0ffee00-1234-4abc-8def-0123456789ab";

describe("parseLogEvent", () => {
  it("reads Powertools JSON: level, message, service, cold start and request id", () => {
    const line = JSON.stringify({
      level: "WARN",
      message: "slow",
      service: "orders",
      cold_start: true,
      function_request_id: RID,
      xray_trace_id: "1-abc",
    });
    expect(parseLogEvent(line, T)).toMatchObject({
      kind: "app",
      level: "WARNING",
      message: "slow",
      service: "orders",
      coldStart: true,
      requestId: RID,
    });
  });

  it("adds the exception's first line to an error message", () => {
    const line = JSON.stringify({
      level: "ERROR",
      message: "Unhandled",
      exception: "Traceback...\nValueError: bad",
      exception_name: "ValueError",
      function_request_id: RID,
    });
    expect(parseLogEvent(line, T).message).toBe("Unhandled (ValueError)");
  });

  it("reads the runtime's unhandled-error JSON as ERROR", () => {
    const line = JSON.stringify({
      errorMessage: "boom",
      errorType: "KeyError",
      requestId: RID,
      stackTrace: [],
    });
    expect(parseLogEvent(line, T)).toMatchObject({
      level: "ERROR",
      message: "KeyError: boom",
      requestId: RID,
    });
  });

  it("reads REPORT lines with and without Init Duration and a timeout status", () => {
    const cold = parseLogEvent(
      `REPORT RequestId: ${RID}\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 1024 MB\tMax Memory Used: 71 MB\tInit Duration: 352.02 ms\t\n`,
      T,
    );
    expect(cold).toMatchObject({ kind: "report", level: "INFO", requestId: RID });
    expect(cold.report).toEqual({
      durationMs: 102.25,
      billedDurationMs: 103,
      memorySizeMb: 1024,
      maxMemoryUsedMb: 71,
      initDurationMs: 352.02,
      status: null,
    });
    const warm = parseLogEvent(
      `REPORT RequestId: ${RID}\tDuration: 30000.00 ms\tBilled Duration: 30000 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: timeout`,
      T,
    );
    expect(warm.report).toMatchObject({ durationMs: 30000, initDurationMs: null, status: "timeout" });
  });

  it("reads START, END, timeout and plain runtime lines", () => {
    expect(parseLogEvent(`START RequestId: ${RID} Version: $LATEST`, T)).toMatchObject({
      kind: "start",
      requestId: RID,
    });
    expect(parseLogEvent(`END RequestId: ${RID}`, T)).toMatchObject({ kind: "end", requestId: RID });
    expect(
      parseLogEvent(`2026-11-25T10:00:00.000Z ${RID} Task timed out after 30.03 seconds`, T),
    ).toMatchObject({
      kind: "timeout",
      level: "ERROR",
      requestId: RID,
      message: "Task timed out after 30.03 seconds",
    });
    expect(parseLogEvent(`[ERROR]\t2026-11-25T10:00:00.000Z\t${RID}\tKeyError: 'x'\n`, T)).toMatchObject({
      level: "ERROR",
      message: "KeyError: 'x'",
      requestId: RID,
    });
    expect(parseLogEvent("[WARNING] disk almost full", T)).toMatchObject({
      level: "WARNING",
      requestId: null,
    });
    expect(parseLogEvent("just some text", T).level).toBe("UNKNOWN");
  });
});

describe("log stats", () => {
  it("folds ids and numbers so the same error groups together", () => {
    expect(normaliseErrorMessage(`Order 42 for ${RID} failed at 0x7f3a9b2c1d after 1.5s`)).toBe(
      "Order <n> for <uuid> failed at <hex> after <n>s",
    );
    expect(normaliseErrorMessage("Table deadbeef1234 missing")).toBe("Table <hex> missing");
  });

  it("nearest-rank percentiles", () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5], 95)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
  });

  it("counts a cold start once when Powertools and REPORT both say so", () => {
    const stats = new LogStatsCollector();
    stats.add(
      parseLogEvent(
        JSON.stringify({ level: "INFO", message: "a", cold_start: true, function_request_id: RID }),
        T,
      ),
    );
    stats.add(
      parseLogEvent(
        JSON.stringify({ level: "INFO", message: "b", cold_start: true, function_request_id: RID }),
        T,
      ),
    );
    stats.add(
      parseLogEvent(
        `REPORT RequestId: ${RID}\tDuration: 5 ms\tBilled Duration: 5 ms\tMemory Size: 512 MB\tMax Memory Used: 60 MB\tInit Duration: 300 ms`,
        T,
      ),
    );
    expect(stats.result()).toMatchObject({
      coldStarts: 1,
      invocations: 1,
      memorySizeMb: 512,
      maxMemoryUsedMb: 60,
    });
  });
});

describe("time ranges", () => {
  const now = Date.parse("2026-11-25T12:00:00.000Z");

  it("accepts durations and ISO times", () => {
    expect(parseTimePoint("since", "15m", now)).toBe(now - 15 * 60_000);
    expect(parseTimePoint("since", "2h", now)).toBe(now - 2 * 3_600_000);
    expect(parseTimePoint("since", "1d", now)).toBe(now - 86_400_000);
    expect(parseTimePoint("since", "30s", now)).toBe(now - 30_000);
    expect(parseTimePoint("since", "2026-11-25T11:00:00Z", now)).toBe(Date.parse("2026-11-25T11:00:00Z"));
    expect(parseTimePoint("since", "2026-11-25T16:30:00+05:30", now)).toBe(
      Date.parse("2026-11-25T11:00:00Z"),
    );
    // No zone: UTC, as CloudWatch shows times.
    expect(parseTimePoint("until", "2026-11-25T11:00", now)).toBe(Date.parse("2026-11-25T11:00:00Z"));
  });

  it("names the field and the accepted forms; until before since is an error", () => {
    expect(() => parseTimePoint("until", "last tuesday", now)).toThrow(
      /^until: "last tuesday" is not a duration back from now \(30s, 15m, 2h, 1d\) or an ISO time/,
    );
    expect(() => parseTimeRange("1h", "2h", now)).toThrow(
      /until \(2026-11-25T10:00:00.000Z\) is before since/,
    );
    expect(() => parseTimeRange("2026-12-01T00:00:00Z", undefined, now)).toThrow(/since .* is in the future/);
    expect(parseTimeRange("15m", undefined, now)).toEqual({ startMs: now - 15 * 60_000, endMs: now });
  });
});

describe("a log window redacts a page of events as one text", () => {
  it("hides a key block split over several events, in the events and in the error groups", () => {
    const window = new LogWindow({ limit: 50, maxEvents: 1000 });
    const at = Date.parse("2026-12-07T05:00:00.000Z");
    const lines = [
      "[ERROR] config dump follows",
      "-----BEGIN PRIVATE KEY-----",
      "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
      "VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDu",
      "-----END PRIVATE KEY-----",
    ];
    const outs = window.addAll(lines.map((message, i) => ({ timestamp: at + i, message })));
    const text = JSON.stringify({ outs, result: window.result() });
    expect(outs).toHaveLength(5);
    expect(text).not.toContain("MIIEvQIBADAN");
    expect(text).not.toContain("VJTUt9Us8cKj");
    expect(outs[0]?.message).toContain("config dump follows");
  });
});
