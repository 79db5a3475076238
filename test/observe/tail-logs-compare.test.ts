import { beforeAll, describe, expect, it } from "vitest";
import { comparisonWindows, type ReleaseComparison, switchTimeOf } from "../../src/observe/log-compare.js";
import { newReleaseId, writeReleaseRecord } from "../../src/release/records.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { invokeTool } from "../../src/server/invoke.js";
import { tailLogsTool } from "../../src/tools/tail-logs.js";
import { createBucket } from "../support/aws-fixtures.js";
import {
  endLine,
  powertoolsLine,
  reportLine,
  type SeedEvent,
  seedLogEvents,
  startLine,
  timeoutLine,
} from "../support/log-seeder.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";

const moto = useMoto();

const ARTIFACTS = `vyaparai-artifacts-compare-${process.pid}`;
const WORSE_GROUP = `/aws/lambda/vyaparai-api-compare-worse-${process.pid}`;
const CLEAN_GROUP = `/aws/lambda/vyaparai-api-compare-clean-${process.pid}`;
const MINUTE = 60_000;
const W = 15 * MINUTE;

const config = {
  environments: {
    prod: {
      lambda: { functionName: `vyaparai-api-compare-${process.pid}`, artifactBucket: ARTIFACTS },
      logGroup: WORSE_GROUP,
    },
    staging: {
      lambda: { functionName: `vyaparai-api-compare-stg-${process.pid}`, artifactBucket: ARTIFACTS },
      logGroup: CLEAN_GROUP,
    },
  },
};

type CompareOut = { summary: string; comparison?: ReleaseComparison };

function record(fields: Partial<ReleaseRecord> & Pick<ReleaseRecord, "startedAt">): ReleaseRecord {
  return {
    releaseId: newReleaseId(new Date(fields.startedAt)),
    env: "prod",
    component: "lambda",
    tool: "deploy_lambda",
    status: "succeeded",
    who: null,
    gitSha: null,
    finishedAt: fields.startedAt,
    planDigest: "digest",
    journal: [],
    artifacts: {},
    before: {},
    after: {},
    timings: {},
    ...fields,
  };
}

let requestCounter = 0;

/** One invocation: START at `at`, its lines after it, REPORT at `at + 50`. */
function invocation(
  at: number,
  facts: {
    durationMs: number;
    errors?: Array<{ level: "ERROR" | "CRITICAL"; message: string }>;
    timeoutLine?: boolean;
    reportTimeout?: boolean;
  },
): SeedEvent[] {
  const id = `c0ffee00-0000-4000-8000-${String(++requestCounter).padStart(12, "0")}`;
  const events: SeedEvent[] = [{ timestamp: at, message: startLine(id) }];
  events.push({
    timestamp: at + 1,
    message: powertoolsLine({ level: "INFO", message: "Handling GET /orders", requestId: id }),
  });
  (facts.errors ?? []).forEach((error, i) => {
    events.push({ timestamp: at + 2 + i, message: powertoolsLine({ ...error, requestId: id }) });
  });
  if (facts.timeoutLine) events.push({ timestamp: at + 40, message: timeoutLine(id, at + 40) });
  events.push({ timestamp: at + 49, message: endLine(id) });
  const report = reportLine(id, { durationMs: facts.durationMs, maxMemoryUsedMb: 80 });
  events.push({ timestamp: at + 50, message: facts.reportTimeout ? `${report}Status: timeout` : report });
  return events;
}

/**
 * Ten invocations before the switch: nine a minute apart from S − 14m, the last ending at
 * S − 1 ms (REPORT just inside the before window). Durations 100, 110, … 190 ms.
 */
function beforeInvocations(switchAt: number, errorsOf: (i: number) => SeedEvent[] | null = () => null) {
  const events: SeedEvent[] = [];
  for (let i = 0; i < 10; i++) {
    const at = i < 9 ? switchAt - 14 * MINUTE + i * MINUTE : switchAt - 51;
    events.push(...(errorsOf(i) ?? invocation(at, { durationMs: 100 + 10 * i })));
  }
  return events;
}

describe("tail_logs compareTo against moto", () => {
  const now = Date.now();
  // The release went live 20 minutes ago: both 15-minute windows are complete.
  const switchAt = now - 20 * MINUTE;
  const cleanSwitchAt = now - 40 * MINUTE;
  let worseRelease: ReleaseRecord;
  let cleanRelease: ReleaseRecord;
  let frontendRelease: ReleaseRecord;
  let failedRelease: ReleaseRecord;

  beforeAll(async () => {
    const clients = moto.current.clients();
    const s3 = await clients.s3();
    const logs = await clients.logs();
    await createBucket(s3, ARTIFACTS);
    const iso = (ms: number) => new Date(ms).toISOString();

    // The new code went live when `verifying` was entered (S); the record finished 60 s later.
    worseRelease = record({
      startedAt: iso(switchAt - 2 * MINUTE),
      finishedAt: iso(switchAt + MINUTE),
      journal: [
        { phase: "locked", at: iso(switchAt - 2 * MINUTE) },
        { phase: "uploading", at: iso(switchAt - MINUTE) },
        { phase: "switching", at: iso(switchAt - 30_000) },
        { phase: "verifying", at: iso(switchAt) },
        { phase: "finishing", at: iso(switchAt + 20_000) },
      ],
    });
    // No journal: the switch is finishedAt.
    cleanRelease = record({
      env: "staging",
      startedAt: iso(cleanSwitchAt - MINUTE),
      finishedAt: iso(cleanSwitchAt),
    });
    frontendRelease = record({
      component: "frontend",
      tool: "deploy_frontend",
      startedAt: iso(now - 10 * MINUTE),
    });
    failedRelease = record({ status: "rolled_back", startedAt: iso(now - 8 * MINUTE) });
    for (const r of [worseRelease, cleanRelease, frontendRelease, failedRelease]) {
      await writeReleaseRecord(s3, ARTIFACTS, r);
    }

    // Worse: one known error before; after it, the known error twice, a new CRITICAL group
    // three times, a timeout with its "Task timed out" line and one seen only on REPORT,
    // and every duration 100 ms slower.
    const worse: SeedEvent[] = beforeInvocations(switchAt, (i) =>
      i === 3
        ? invocation(switchAt - 14 * MINUTE + 3 * MINUTE, {
            durationMs: 130,
            errors: [{ level: "ERROR", message: "Order 1001 not found" }],
          })
        : null,
    );
    const after: Array<Parameters<typeof invocation>[1]> = [
      { durationMs: 200, errors: [{ level: "ERROR", message: "Order 2002 not found" }] },
      { durationMs: 210, errors: [{ level: "CRITICAL", message: "Payment gateway 7 unreachable" }] },
      {
        durationMs: 220,
        errors: [
          { level: "CRITICAL", message: "Payment gateway 8 unreachable" },
          { level: "ERROR", message: "Order 2003 not found" },
        ],
      },
      { durationMs: 230, errors: [{ level: "CRITICAL", message: "Payment gateway 9 unreachable" }] },
      { durationMs: 240, timeoutLine: true, reportTimeout: true },
      { durationMs: 250, reportTimeout: true },
      { durationMs: 260 },
      { durationMs: 270 },
      { durationMs: 280 },
      { durationMs: 290 },
    ];
    // The switch instant belongs to the after window: the new group's first event is there.
    worse.push({
      timestamp: switchAt,
      message: powertoolsLine({
        level: "CRITICAL",
        message: "Payment gateway 6 unreachable",
        requestId: "c0ffee00-0000-4000-8000-999999999999",
      }),
    });
    for (const [i, facts] of after.entries()) worse.push(...invocation(switchAt + i * MINUTE, facts));
    // Outside both windows: must count nowhere.
    worse.push(
      ...invocation(switchAt - W - 5_000, {
        durationMs: 5000,
        errors: [{ level: "ERROR", message: "Ancient failure" }],
      }),
      ...invocation(switchAt + W + 5_000, {
        durationMs: 5000,
        errors: [{ level: "ERROR", message: "Later failure" }],
      }),
    );
    await seedLogEvents(logs, WORSE_GROUP, "2026/11/25/[$LATEST]worse", worse);

    // Clean and symmetric: the same ten durations on each side, no errors; invocations a
    // minute apart from the switch on.
    const clean = beforeInvocations(cleanSwitchAt);
    for (let i = 0; i < 10; i++)
      clean.push(...invocation(cleanSwitchAt + i * MINUTE, { durationMs: 100 + 10 * i }));
    await seedLogEvents(logs, CLEAN_GROUP, "2026/11/25/[$LATEST]clean", clean);
  });

  it("a release with new errors and slower invocations is worse, with exact figures per window", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const result = await invokeTool(tailLogsTool, { compareTo: worseRelease.releaseId }, runtime);
    expect(result.isError, result.text).toBe(false);
    const c = (result.structured as CompareOut).comparison as ReleaseComparison;
    expect(c.releaseId).toBe(worseRelease.releaseId);
    // The journal entry after "switching" (verifying), not finishedAt a minute later.
    expect(c.switchedAt).toBe(new Date(switchAt).toISOString());
    expect(c.switchedAtSource).toBe("journal");
    expect(c.before.window).toEqual({
      since: new Date(switchAt - W).toISOString(),
      until: new Date(switchAt).toISOString(),
    });
    expect(c.after.window).toEqual({
      since: new Date(switchAt).toISOString(),
      until: new Date(switchAt + W).toISOString(),
    });

    expect(c.before).toMatchObject({ invocations: 10, errors: 1, errorRate: 0.1, durationP95Ms: 190 });
    expect(c.before.errorGroups.map((g) => [g.message, g.count])).toEqual([["Order <n> not found", 1]]);
    // 2 "not found" + 4 gateway + the "Task timed out" line + the REPORT-only timeout; the
    // timeout with both a line and a REPORT status counts once.
    expect(c.after).toMatchObject({
      invocations: 10,
      errors: 8,
      errorRate: 0.8,
      durationP95Ms: 290,
      errorGroupCount: 3,
      truncated: false,
    });
    expect(c.after.errorGroups.map((g) => [g.message, g.count])).toEqual([
      ["Payment gateway <n> unreachable", 4],
      ["Order <n> not found", 2],
      ["Task timed out after <n> seconds", 1],
    ]);
    expect(c.newErrorGroups.map((g) => [g.message, g.count])).toEqual([
      ["Payment gateway <n> unreachable", 4],
      ["Task timed out after <n> seconds", 1],
    ]);
    expect(c.newErrorGroupCount).toBe(2);
    expect(c.newErrorGroups[0]?.firstSeen).toBe(new Date(switchAt).toISOString());
    // (0.8 − 0.1) × 100 points; (290 − 190) / 190 = 52.63…%.
    expect(c.change).toEqual({ errorRatePoints: 70, durationP95Percent: 52.6 });
    expect(c.verdict).toBe("worse");
    expect(c.reasons).toHaveLength(3);
    // Events outside the windows counted nowhere.
    const all = JSON.stringify(c);
    expect(all).not.toContain("Ancient failure");
    expect(all).not.toContain("Later failure");
    // The summary counts; group texts stay in their fields.
    const summary = (result.structured as CompareOut).summary;
    expect(summary).toContain("verdict worse");
    expect(summary).not.toContain("Payment");
    runtime.close();
  });

  it("a symmetric clean release is the same; a short window has too few invocations", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const result = await invokeTool(
      tailLogsTool,
      { env: "staging", compareTo: cleanRelease.releaseId },
      runtime,
    );
    expect(result.isError, result.text).toBe(false);
    const c = (result.structured as CompareOut).comparison as ReleaseComparison;
    expect(c.switchedAt).toBe(new Date(cleanSwitchAt).toISOString());
    expect(c.switchedAtSource).toBe("finishedAt");
    for (const side of [c.before, c.after]) {
      expect(side).toMatchObject({
        invocations: 10,
        errors: 0,
        errorRate: 0,
        durationP95Ms: 190,
        errorGroupCount: 0,
      });
    }
    expect(c.newErrorGroups).toEqual([]);
    expect(c.change).toEqual({ errorRatePoints: 0, durationP95Percent: 0 });
    expect(c.verdict).toBe("same");

    // W = 2m: after = [S, S + 2m] holds two invocations (the third starts at its last instant
    // and reports after it), before = [S − 2m, S) only the one ending at S − 1 ms.
    const short = await invokeTool(
      tailLogsTool,
      { env: "staging", since: "2m", compareTo: cleanRelease.releaseId },
      runtime,
    );
    expect(short.isError, short.text).toBe(false);
    const s = (short.structured as CompareOut).comparison as ReleaseComparison;
    expect(s.after.window).toEqual({
      since: new Date(cleanSwitchAt).toISOString(),
      until: new Date(cleanSwitchAt + 2 * MINUTE).toISOString(),
    });
    expect(s.before.window.since).toBe(new Date(cleanSwitchAt - 2 * MINUTE).toISOString());
    expect([s.before.invocations, s.after.invocations]).toEqual([1, 2]);
    expect(s.verdict).toBe("insufficient data");
    runtime.close();
  });

  it("an unknown, non-Lambda or not-kept release is an error naming the fix", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const missing = await invokeTool(tailLogsTool, { compareTo: "20250101T000000000Z-abcdef" }, runtime);
    expect(missing.isError).toBe(true);
    expect(missing.text).toMatch(
      /Release 20250101T000000000Z-abcdef is not recorded for the Lambda of "prod"/,
    );
    expect(missing.text).toMatch(/List releases with deploy_status/);

    const frontend = await invokeTool(tailLogsTool, { compareTo: frontendRelease.releaseId }, runtime);
    expect(frontend.isError).toBe(true);
    expect(frontend.text).toMatch(/is a frontend release, not a Lambda one/);

    const rolledBack = await invokeTool(tailLogsTool, { compareTo: failedRelease.releaseId }, runtime);
    expect(rolledBack.isError).toBe(true);
    expect(rolledBack.text).toMatch(/ended "rolled_back": its code did not stay live/);

    const malformed = await invokeTool(tailLogsTool, { compareTo: "../../etc/passwd" }, runtime);
    expect(malformed.isError).toBe(true);
    expect(malformed.text).toMatch(/compareTo must be a Lambda release id/);
    runtime.close();
  });
});

describe("comparison windows and switch time", () => {
  it("the after window stops at now and the before window is as long", () => {
    const s = Date.parse("2026-01-01T10:00:00Z");
    expect(comparisonWindows(s, W, s + 5 * MINUTE)).toEqual({
      before: { startMs: s - 5 * MINUTE, endMs: s },
      after: { startMs: s, endMs: s + 5 * MINUTE },
    });
    // A switch "in the future" (clock skew) gives empty windows, never negative ones.
    expect(comparisonWindows(s, W, s - MINUTE)).toEqual({
      before: { startMs: s, endMs: s },
      after: { startMs: s, endMs: s },
    });
  });

  it("takes the first journal entry after the last switching one, else finishedAt", () => {
    const base = record({ startedAt: "2026-01-01T10:00:00.000Z", finishedAt: "2026-01-01T10:05:00.000Z" });
    expect(switchTimeOf(base)).toEqual({
      switchedAtMs: Date.parse("2026-01-01T10:05:00.000Z"),
      source: "finishedAt",
    });
    const journalled = {
      ...base,
      journal: [
        { phase: "switching" as const, at: "2026-01-01T10:01:00.000Z" },
        { phase: "verifying" as const, at: "2026-01-01T10:02:00.000Z" },
      ],
    };
    expect(switchTimeOf(journalled)).toEqual({
      switchedAtMs: Date.parse("2026-01-01T10:02:00.000Z"),
      source: "journal",
    });
    expect(switchTimeOf({ ...base, finishedAt: null })).toBeNull();
  });
});
