import { eachRun, errorRow, measured, rowFor, type Scenario, SeriesByColumn } from "../context.js";
import { seedLogEvents } from "../fixtures/aws-world.js";
import { NOT_BUILT, OUR_SERVER, openSession, peakRssMb } from "../mcp-session.js";
import { findAwsV2 } from "../prerequisites.js";
import type { Row } from "../results.js";
import { awsCli } from "../timing.js";
import { BENCH_LOG_GROUP, backendApp } from "./backend-app.js";

/** What a client can show of one tool answer: Claude Code's ~25k tokens, ~100 KB of text. */
const OUTPUT_BUDGET_BYTES = 100_000;

class NotBuilt extends Error {}

/**
 * tail_logs over a window of seeded events vs `aws logs tail` of the same window (it pages
 * through all of it with FilterLogEvents and prints every event). `logs tail` is aws CLI v2
 * only: with no v2 on this machine the baseline is v1's `aws logs filter-log-events` over the
 * same window — the same FilterLogEvents pages — and the row says so. Ours must also keep its
 * answer bounded.
 */
export const logsScenario: Scenario = {
  ids: ["logs-10k"],
  async run(ctx) {
    const app = backendApp(ctx);
    const count = ctx.sizes.logEvents;
    const window = await seedLogEvents(ctx.clients, BENCH_LOG_GROUP, count);
    ctx.fixtures.push(`logs: ${count} events (START/REPORT lines and Powertools JSON) over 20 minutes`);
    const v2 = findAwsV2(ctx.programs.aws);
    const since = new Date(window.startMs - 1_000).toISOString();
    const baselineArgs = v2
      ? ["logs", "tail", BENCH_LOG_GROUP, "--since", since]
      : [
          "logs",
          "filter-log-events",
          "--log-group-name",
          BENCH_LOG_GROUP,
          "--start-time",
          String(window.startMs - 1_000),
          "--end-time",
          String(window.endMs + 1_000),
          "--output",
          "json",
        ];
    const baselineName = v2 ? "aws logs tail" : "aws logs filter-log-events (CLI v1: no logs tail)";
    const eventsOf = (stdout: string) =>
      v2
        ? stdout.split("\n").filter((line) => line.trim() !== "").length
        : ((JSON.parse(stdout) as { events?: unknown[] }).events?.length ?? 0);
    const session = await openSession({
      script: OUR_SERVER,
      cwd: app.appRoot,
      env: ctx.env,
      cleanup: ctx.cleanup,
    });
    const args = { env: "dev", since, until: new Date(window.endMs + 1_000).toISOString() };
    const series = new SeriesByColumn();
    let outputBytes = 0;
    let baselineBytes = 0;
    let baselineEvents = 0;
    let truncated: unknown;
    let failed: Map<string, string>;
    try {
      failed = await eachRun(ctx, "logs-10k", async (run) => {
        const ours = await measured(ctx, () => session.call("tail_logs", args));
        if (ours.value.isError) {
          if (NOT_BUILT.test(ours.value.text)) throw new NotBuilt();
          throw new Error(`tail_logs failed: ${ours.value.text.slice(0, 1500)}`);
        }
        outputBytes = Math.max(outputBytes, Buffer.byteLength(ours.value.text));
        truncated = ours.value.structured.truncated;
        const baseline = await measured(ctx, () => awsCli(ctx, baselineArgs, v2 ? { binary: v2 } : {}));
        baselineBytes = Buffer.byteLength(baseline.value.stdout);
        baselineEvents = eventsOf(baseline.value.stdout);
        ctx.log(
          `logs-10k ${run.label}: ours ${ours.ms.toFixed(0)} ms (${ours.traffic.requests} requests), ${baselineName} ${baseline.ms.toFixed(0)} ms (${baseline.traffic.requests} requests)`,
        );
        if (run.warmUp) return;
        const s = series.of(run.column.id);
        s.add("ours", ours.ms, ours.traffic);
        s.add("baseline", baseline.ms, baseline.traffic);
        if (run.last) s.rss(peakRssMb(session.pid));
      });
    } catch (error) {
      if (error instanceof NotBuilt)
        return ctx.args.shapes.map((column) =>
          errorRow("logs-10k", column.id, "not available: tail_logs not built"),
        );
      throw error;
    } finally {
      await session.close();
    }
    return ctx.args.shapes.map((column): Row => {
      const why = failed.get(column.id);
      if (why) return errorRow("logs-10k", column.id, why);
      const s = series.of(column.id);
      return rowFor(
        "logs-10k",
        column.id,
        s.runs,
        s.extra({
          checks: [
            {
              what: `output bounded: ${(outputBytes / 1024).toFixed(1)} KB ≤ ${OUTPUT_BUDGET_BYTES / 1000} KB`,
              ok: outputBytes <= OUTPUT_BUDGET_BYTES,
            },
          ],
          notes: [
            `${count} events seeded; truncated: ${String(truncated)}; baseline ${baselineName} printed ${baselineEvents} events, ${(baselineBytes / 1e6).toFixed(1)} MB`,
          ],
        }),
      );
    });
  },
};
