import { iterations, type Scenario, TARGETS } from "../context.js";
import { seedLogEvents } from "../fixtures/aws-world.js";
import { NOT_BUILT, OUR_SERVER, openSession } from "../mcp-session.js";
import { measuredRow, unavailableRow } from "../results.js";
import { timed, timedProgram } from "../timing.js";
import { BENCH_LOG_GROUP, backendApp } from "./backend-app.js";

/** What a client can show of one tool answer: Claude Code's ~25k tokens, ~100 KB of text. */
const OUTPUT_BUDGET_BYTES = 100_000;

/**
 * tail_logs over a window of seeded events vs `aws logs filter-log-events` fetching the same
 * window (the CLI pages through all of it). Ours must also keep its answer bounded.
 */
export const logsScenario: Scenario = {
  ids: ["logs-10k"],
  async run(ctx) {
    const app = backendApp(ctx);
    const count = ctx.sizes.logEvents;
    const window = await seedLogEvents(ctx.clients, BENCH_LOG_GROUP, count);
    ctx.fixtures.push(`logs: ${count} events (START/REPORT lines and Powertools JSON) over 20 minutes`);
    const session = await openSession({
      script: OUR_SERVER,
      cwd: app.appRoot,
      env: ctx.env,
      cleanup: ctx.cleanup,
    });
    const args = {
      env: "dev",
      since: new Date(window.startMs - 1_000).toISOString(),
      until: new Date(window.endMs + 1_000).toISOString(),
    };
    const runs = { ours: [] as number[], baseline: [] as number[] };
    let outputBytes = 0;
    let baselineBytes = 0;
    let baselineEvents = 0;
    let truncated: unknown;
    for (let i = 0; i < iterations(ctx); i++) {
      const ours = await timed(() => session.call("tail_logs", args));
      if (ours.value.isError) {
        if (NOT_BUILT.test(ours.value.text))
          return [
            unavailableRow(
              "logs-10k",
              TARGETS["logs-10k"].unit,
              TARGETS["logs-10k"].target,
              "not available: tail_logs not built",
            ),
          ];
        throw new Error(`tail_logs failed: ${ours.value.text.slice(0, 1500)}`);
      }
      outputBytes = Math.max(outputBytes, Buffer.byteLength(ours.value.text));
      truncated = ours.value.structured.truncated;
      const baseline = await timedProgram(
        ctx.programs.aws,
        [
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
        ],
        { env: ctx.env },
      );
      baselineBytes = Buffer.byteLength(baseline.stdout);
      baselineEvents = (JSON.parse(baseline.stdout) as { events?: unknown[] }).events?.length ?? 0;
      ctx.log(
        `logs-10k ${i === 0 ? "warm-up" : `run ${i}`}: ours ${ours.ms.toFixed(0)} ms, aws logs ${baseline.ms.toFixed(0)} ms`,
      );
      if (i === 0) continue;
      runs.ours.push(ours.ms);
      runs.baseline.push(baseline.ms);
    }
    await session.close();
    return [
      measuredRow("logs-10k", TARGETS["logs-10k"].unit, TARGETS["logs-10k"].target, runs, {
        checks: [
          {
            what: `output bounded: ${(outputBytes / 1024).toFixed(1)} KB ≤ ${OUTPUT_BUDGET_BYTES / 1000} KB`,
            ok: outputBytes <= OUTPUT_BUDGET_BYTES,
          },
        ],
        notes: [
          `${count} events seeded; truncated: ${String(truncated)}; aws CLI returned ${baselineEvents} events, ${(baselineBytes / 1e6).toFixed(1)} MB`,
        ],
      }),
    ];
  },
};
