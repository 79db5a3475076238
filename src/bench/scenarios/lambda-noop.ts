import { eachRun, errorRow, measured, rowFor, type Scenario, SeriesByColumn, seconds } from "../context.js";
import { countPublishVersion, countS3Writes, countUpdateFunctionCode } from "../count-proxy.js";
import { NOT_BUILT, OUR_SERVER, openSession, peakRssMb } from "../mcp-session.js";
import { LOOPBACK } from "../network-proxy.js";
import type { Row } from "../results.js";
import { backendApp, resetFunction } from "./backend-app.js";
import { seedScriptKey } from "./backend-first.js";

interface Counted {
  s3Writes: number;
  updateCode: number;
  publish: number;
  calls: number;
  statuses: Set<string>;
}

/**
 * deploy_lambda of code that is already live: the whole call (package, compare with the live
 * CodeSha256, answer) must stay within its target and write nothing. Every request crosses the
 * bench's proxy, so every S3 write and UpdateFunctionCode call is seen, in every column.
 */
export const lambdaNoopScenario: Scenario = {
  ids: ["lambda-noop"],
  async run(ctx) {
    const app = backendApp(ctx);
    await resetFunction(ctx);
    const session = await openSession({
      script: OUR_SERVER,
      cwd: app.appRoot,
      env: ctx.env,
      cleanup: ctx.cleanup,
    });
    const series = new SeriesByColumn();
    const counted = new Map<string, Counted>();
    let failed: Map<string, string>;
    try {
      // The first deploy puts this tree live (not measured).
      ctx.proxy.setShape(LOOPBACK);
      const first = await session.call("deploy_lambda", { env: "dev" });
      if (first.isError) {
        if (NOT_BUILT.test(first.text))
          return ctx.args.shapes.map((column) =>
            errorRow("lambda-noop", column.id, "not available: deploy_lambda not built"),
          );
        throw new Error(`the first deploy_lambda failed: ${first.text.slice(0, 1500)}`);
      }
      if (first.structured.status !== "deployed")
        throw new Error(
          `the first deploy_lambda ended "${String(first.structured.status)}", expected "deployed"`,
        );
      failed = await eachRun(ctx, "lambda-noop", async (run) => {
        const call = await measured(ctx, () => session.call("deploy_lambda", { env: "dev" }));
        if (call.value.isError)
          throw new Error(`deploy_lambda of unchanged code failed: ${call.value.text.slice(0, 1500)}`);
        const lines = call.traffic.records.map((r) => r.line);
        const status = String(call.value.structured.status);
        ctx.log(
          `lambda-noop ${run.label}: ${call.ms.toFixed(0)} ms, ${status}, ${lines.length} AWS requests`,
        );
        if (run.warmUp) return;
        const c = counted.get(run.column.id) ?? {
          s3Writes: 0,
          updateCode: 0,
          publish: 0,
          calls: 0,
          statuses: new Set<string>(),
        };
        c.s3Writes += countS3Writes(lines);
        c.updateCode += countUpdateFunctionCode(lines);
        c.publish += countPublishVersion(lines);
        c.calls++;
        c.statuses.add(status);
        counted.set(run.column.id, c);
        const s = series.of(run.column.id);
        s.add("ours", call.ms, call.traffic);
        if (run.last) s.rss(peakRssMb(session.pid));
      });
    } finally {
      await session.close();
    }
    return ctx.args.shapes.map((column): Row => {
      const why = failed.get(column.id);
      if (why) return errorRow("lambda-noop", column.id, why);
      const s = series.of(column.id);
      const c = counted.get(column.id);
      const seedMs = ctx.shared.get(seedScriptKey(column.id, "ms"));
      const seedRequests = ctx.shared.get(seedScriptKey(column.id, "requests"));
      const row = rowFor(
        "lambda-noop",
        column.id,
        { ours: s.runs.ours, baseline: seedMs === undefined ? [] : [seedMs] },
        s.extra({
          checks: c
            ? [
                { what: `S3 PUT/POST = ${c.s3Writes} over ${c.calls} calls`, ok: c.s3Writes === 0 },
                { what: `UpdateFunctionCode = ${c.updateCode}`, ok: c.updateCode === 0 },
                { what: `PublishVersion = ${c.publish}`, ok: c.publish === 0 },
                {
                  what: `status ${[...c.statuses].join("/")}`,
                  ok: c.statuses.size === 1 && c.statuses.has("unchanged"),
                },
              ]
            : [],
          notes: [
            `package of ${app.summary.files} files; baseline: ${
              seedMs === undefined
                ? "none (the seed script has no no-op; run be-first for its time)"
                : `the seed script's be-first median ${seconds(seedMs)} (it has no no-op: it always zips, uploads and updates)`
            }`,
          ],
        }),
      );
      if (seedRequests !== undefined) row.requests.baseline = seedRequests;
      return row;
    });
  },
};
