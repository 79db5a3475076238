import { beforeAll, describe, expect, it } from "vitest";
import { type LogQueryResult, queryLogs } from "../../src/observe/logs.js";
import { invokeTool } from "../../src/server/invoke.js";
import { tailLogsTool } from "../../src/tools/tail-logs.js";
import { createTestFunction } from "../support/aws-fixtures.js";
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

const FUNCTION = `vyaparai-api-tail-${process.pid}`;
const GROUP = `/aws/lambda/${FUNCTION}`;
const BIG_GROUP = `/aws/lambda/vyaparai-api-big-${process.pid}`;
const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE";
const REQ = [
  "0f1e2d3c-0001-4000-8000-000000000001",
  "0f1e2d3c-0002-4000-8000-000000000002",
  "0f1e2d3c-0003-4000-8000-000000000003",
  "0f1e2d3c-0004-4000-8000-000000000004",
] as const;

/** Four invocations: two cold (one also flagged by Powertools), one timeout, errors of several kinds. */
function seededInvocations(base: number): SeedEvent[] {
  const at = (i: number) => base + i * 10;
  const [r1, r2, r3, r4] = REQ;
  const lines: string[] = [
    startLine(r1),
    powertoolsLine({ level: "INFO", message: "Handling GET /orders", requestId: r1, coldStart: true }),
    powertoolsLine({ level: "DEBUG", message: "cache miss for store 42", requestId: r1, coldStart: true }),
    `[WARNING]\t${new Date(at(3)).toISOString()}\t${r1}\tDeprecated header X-Store`,
    endLine(r1),
    reportLine(r1, { durationMs: 120, maxMemoryUsedMb: 80, initDurationMs: 350.5 }),
    startLine(r2),
    powertoolsLine({ level: "INFO", message: "Handling GET /orders/12345", requestId: r2 }),
    powertoolsLine({ level: "WARNING", message: "Slow query took 1200 ms", requestId: r2 }),
    powertoolsLine({
      level: "ERROR",
      message: "Order 12345 not found for store 9f3b2c1a-1111-4222-8333-444455556666",
      requestId: r2,
    }),
    powertoolsLine({
      level: "ERROR",
      message: `Failed to call S3 with aws_secret_access_key=${SECRET_KEY} and key ${ACCESS_KEY}`,
      requestId: r2,
    }),
    endLine(r2),
    reportLine(r2, { durationMs: 80, maxMemoryUsedMb: 85 }),
    startLine(r3),
    powertoolsLine({
      level: "ERROR",
      message: "Order 67890 not found for store 7a6b5c4d-aaaa-4bbb-8ccc-dddddddddddd",
      requestId: r3,
    }),
    powertoolsLine({ level: "CRITICAL", message: "Payment gateway unreachable", requestId: r3 }),
    `[ERROR]\t${new Date(at(16)).toISOString()}\t${r3}\tKeyError: 'store_id'`,
    endLine(r3),
    reportLine(r3, { durationMs: 200, maxMemoryUsedMb: 90 }),
    startLine(r4),
    powertoolsLine({ level: "INFO", message: "Handling POST /khata", requestId: r4, coldStart: true }),
    timeoutLine(r4, at(21)),
    endLine(r4),
    reportLine(r4, { durationMs: 30000, maxMemoryUsedMb: 95, initDurationMs: 400 }),
  ];
  return lines.map((message, i) => ({ timestamp: at(i), message }));
}

/** tail_logs' structuredContent: the query result plus what the tool adds. */
type TailOut = Pick<LogQueryResult, keyof LogQueryResult> & { summary: string; logGroup: string };

const config = { environments: { prod: { lambda: { functionName: FUNCTION } } } };

describe("tail_logs against moto", () => {
  let seededAt: number;

  beforeAll(async () => {
    const clients = moto.current.clients();
    await createTestFunction(moto.current, await clients.lambda(), { name: FUNCTION });
    seededAt = Date.now() - 5 * 60_000;
    await seedLogEvents(await clients.logs(), GROUP, "2026/11/25/[$LATEST]abc", seededInvocations(seededAt));
  });

  it("reports exact counts by level, error groups, invocations, cold starts and timeouts", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const result = await invokeTool(tailLogsTool, { since: "15m" }, runtime);
    expect(result.isError, result.text).toBe(false);
    const out = result.structured as TailOut;
    // moto 5.2.1 drops LoggingConfig, so the group is the runtime default.
    expect(out.logGroup).toBe(GROUP);
    expect(out.scanned).toBe(24);
    expect(out.stats.byLevel).toEqual({ INFO: 15, DEBUG: 1, WARNING: 2, ERROR: 5, CRITICAL: 1 });
    expect(out.stats.invocations).toBe(4);
    expect(out.stats.coldStarts).toBe(2);
    expect(out.stats.timeouts).toBe(1);
    expect(out.stats.durationP50Ms).toBe(120);
    expect(out.stats.durationP95Ms).toBe(30000);
    expect(out.stats.durationMaxMs).toBe(30000);
    expect(out.stats.maxMemoryUsedMb).toBe(95);
    expect(out.stats.memorySizeMb).toBe(1024);
    const groups = out.stats.errorGroups;
    expect(groups.map((g) => [g.message, g.count])).toEqual([
      ["Order <n> not found for store <uuid>", 2],
      ["Failed to call S<n> with aws_secret_access_key=[REDACTED] and key [REDACTED]", 1],
      ["Payment gateway unreachable", 1],
      ["KeyError: 'store_id'", 1],
      ["Task timed out after <n> seconds", 1],
    ]);
    expect(groups[0]).toMatchObject({
      firstSeen: new Date(seededAt + 90).toISOString(),
      lastSeen: new Date(seededAt + 140).toISOString(),
      sampleRequestId: REQ[1],
    });
    expect(out.truncated).toBe(false);
    expect(out.events).toHaveLength(24);
    // Log text stays in its field: the summary counts the groups and points there.
    expect(out.summary).toContain("5 error group(s), the largest ×2");
    expect(out.summary).not.toContain("Order");
    runtime.close();
  });

  it("never lets the seeded secrets out, in the tool result or the domain result", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const result = await invokeTool(tailLogsTool, { since: "15m", level: "ERROR" }, runtime);
    for (const text of [result.text, JSON.stringify(result.structured)]) {
      expect(text).not.toContain(SECRET_KEY);
      expect(text).not.toContain(ACCESS_KEY);
    }
    // The domain result is built from redacted text too (the wrapper's redaction is a second layer).
    const direct = await queryLogs({
      logs: await moto.current.clients().logs(),
      logGroup: GROUP,
      startMs: seededAt - 1000,
      limit: 100,
    });
    const directText = JSON.stringify(direct);
    expect(directText).not.toContain(SECRET_KEY);
    expect(directText).not.toContain(ACCESS_KEY);
    expect(directText).toContain("aws_secret_access_key=[REDACTED]");
    runtime.close();
  });

  it('level "ERROR" returns only error events, with stats still over the whole window', async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const out = (await invokeTool(tailLogsTool, { since: "15m", level: "ERROR" }, runtime))
      .structured as TailOut;
    expect(out.events).toHaveLength(6);
    expect(new Set(out.events.map((e) => e.level))).toEqual(new Set(["ERROR", "CRITICAL"]));
    expect(out.matched).toBe(6);
    expect(out.stats.invocations).toBe(4);
    runtime.close();
  });

  it("requestId narrows events and stats to one request", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const out = (await invokeTool(tailLogsTool, { since: "15m", requestId: REQ[2] }, runtime))
      .structured as TailOut;
    expect(out.events.map((e) => e.requestId)).toEqual(Array(6).fill(REQ[2]));
    expect(out.stats.invocations).toBe(1);
    expect(out.stats.byLevel).toEqual({ INFO: 3, ERROR: 2, CRITICAL: 1 });
    runtime.close();
  });

  it("passes filterPattern through to CloudWatch", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const out = (await invokeTool(tailLogsTool, { since: "15m", filterPattern: '"not found"' }, runtime))
      .structured as TailOut;
    expect(out.scanned).toBe(2);
    expect(out.events.every((e) => e.message.includes("not found"))).toBe(true);
    runtime.close();
  });

  it("an until before since, or an unknown time form, is an error naming the field", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const reversed = await invokeTool(tailLogsTool, { since: "1h", until: "2h" }, runtime);
    expect(reversed.isError).toBe(true);
    expect(reversed.text).toMatch(/until .* is before since/);
    const bad = await invokeTool(tailLogsTool, { since: "yesterday" }, runtime);
    expect(bad.isError).toBe(true);
    expect(bad.text).toMatch(/since: "yesterday" is not a duration back from now \(30s, 15m, 2h, 1d\)/);
    runtime.close();
  });

  it("a 10,000-event window is summarised with bounded output; stats count every event", async () => {
    const logs = await moto.current.clients().logs();
    const base = Date.now() - 10 * 60_000;
    const padding = "x".repeat(1500);
    const events: SeedEvent[] = [];
    for (let i = 0; i < 2500; i++) {
      const id = `1a2b3c4d-0000-4000-8000-${String(i).padStart(12, "0")}`;
      events.push({ timestamp: base + i * 4, message: startLine(id) });
      events.push({
        timestamp: base + i * 4 + 1,
        message:
          i % 10 === 0
            ? powertoolsLine({
                level: "ERROR",
                message: `Timeout talking to DynamoDB after ${i} ms ${padding}`,
                requestId: id,
              })
            : powertoolsLine({ level: "INFO", message: `served request ${i}`, requestId: id }),
      });
      events.push({ timestamp: base + i * 4 + 2, message: endLine(id) });
      events.push({
        timestamp: base + i * 4 + 3,
        message: reportLine(id, { durationMs: 10 + (i % 100), maxMemoryUsedMb: 70 }),
      });
    }
    await seedLogEvents(logs, BIG_GROUP, "big", events);
    const runtime = testRuntime({
      moto: moto.current,
      config: { environments: { prod: { lambda: { functionName: FUNCTION }, logGroup: BIG_GROUP } } },
    });
    const result = await invokeTool(tailLogsTool, { since: "15m", limit: 500 }, runtime);
    expect(result.isError, result.text).toBe(false);
    const out = result.structured as TailOut;
    expect(out.scanned).toBe(10_000);
    expect(out.stats.invocations).toBe(2500);
    expect(out.stats.byLevel).toEqual({ INFO: 9750, ERROR: 250 });
    expect(out.stats.errorGroups).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/^Timeout talking to DynamoDB after <n> ms x+…$/),
        count: 250,
      }),
    ]);
    expect(out.truncated).toBe(true);
    expect(out.narrowHint).toMatch(/To narrow: a shorter window/);
    expect(out.events.length).toBeLessThan(500);
    const messageBytes = out.events.reduce((n, e) => n + Buffer.byteLength(e.message), 0);
    expect(messageBytes).toBeLessThanOrEqual(40 * 1024);
    for (const e of out.events) expect(Buffer.byteLength(e.message)).toBeLessThanOrEqual(1100);
    // Well under Claude Code's ~25k-token tool output limit (~4 bytes a token).
    expect(result.text.length).toBeLessThan(64 * 1024);
    // The returned events are the most recent ones.
    expect(out.events.at(-1)?.message).toMatch(/^REPORT RequestId: 1a2b3c4d-0000-4000-8000-000000002499/);
    runtime.close();
  });

  it("stops at the scan bound and says so", async () => {
    const out = await queryLogs({
      logs: await moto.current.clients().logs(),
      logGroup: BIG_GROUP,
      startMs: Date.now() - 15 * 60_000,
      limit: 10,
      maxEvents: 3000,
    });
    expect(out.scanned).toBe(3000);
    expect(out.stats.invocations).toBe(750);
    expect(out.truncated).toBe(true);
    expect(out.narrowHint).toMatch(/^Scanned the first 3000 events only/);
  });
});
