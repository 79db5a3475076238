import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  type BenchContext,
  columnsOf,
  eachRun,
  errorRow,
  measured,
  rowFor,
  type Scenario,
  SeriesByColumn,
} from "../context.js";
import { countS3Writes, countUpdateFunctionCode } from "../count-proxy.js";
import { NOT_BUILT, OUR_SERVER, openSession, peakRssMb, type ToolAnswer } from "../mcp-session.js";
import type { Traffic } from "../network-proxy.js";
import { awsCli, timedProgram } from "../timing.js";
import {
  BENCH_ARTIFACT_PREFIX,
  BENCH_ARTIFACTS,
  BENCH_FUNCTION,
  backendApp,
  resetFunction,
} from "./backend-app.js";

/** Where the seed's script puts its zip (a fixed key: it overwrites it every time). */
const SEED_SCRIPT_KEY = `${BENCH_ARTIFACT_PREFIX}lambda.zip`;

/** The seed script's median per column, for lambda-noop's row (it has no no-op: it always uploads). */
export const seedScriptKey = (column: string, what: "ms" | "requests") => `seed-script-${what}:${column}`;

class NotBuilt extends Error {}

/**
 * The seed's backend script, step by step as it ran by hand: zip the dependencies' content at
 * the root, add app/ and lambda_handler.py (`zip -r`, quiet), `aws s3 cp` the zip to the
 * artifact bucket, `aws lambda update-function-code` from it. Both aws calls go through the
 * proxy; the zip is local.
 */
async function seedScript(
  ctx: BenchContext,
  backendDir: string,
  zipPath: string,
): Promise<{ zipBytes: number }> {
  rmSync(zipPath, { force: true });
  await timedProgram(ctx.programs.zip, ["-qr", zipPath, "."], {
    env: ctx.env,
    cwd: join(backendDir, "lambda_deps"),
  });
  await timedProgram(ctx.programs.zip, ["-qr", zipPath, "app", "lambda_handler.py"], {
    env: ctx.env,
    cwd: backendDir,
  });
  await awsCli(ctx, ["s3", "cp", zipPath, `s3://${BENCH_ARTIFACTS}/${SEED_SCRIPT_KEY}`, "--no-progress"]);
  await awsCli(ctx, [
    "lambda",
    "update-function-code",
    "--function-name",
    BENCH_FUNCTION,
    "--s3-bucket",
    BENCH_ARTIFACTS,
    "--s3-key",
    SEED_SCRIPT_KEY,
  ]);
  return { zipBytes: statSync(zipPath).size };
}

/**
 * be-first: deploy_lambda of a 35 MB backend that is not live, against the seed's script.
 * A true first deploy every run, whatever the product caches: the function and the artifact
 * bucket are reset to the seed's state (no release record, no stored package), and our side is
 * a fresh server in a fresh copy of the app repository with its own empty XDG state and cache
 * folders (the product's Lambda hash cache lives in XDG_STATE_HOME).
 * The timed span is the one deploy_lambda call on that started server.
 */
export const backendFirstScenario: Scenario = {
  ids: ["be-first"],
  async run(ctx) {
    const app = backendApp(ctx);
    const series = new SeriesByColumn();
    const zipPath = join(ctx.workDir, "seed-script-lambda.zip");
    const sizes = { ours: 0, baseline: 0, zip: 0 };
    let copy = 0;
    let failed: Map<string, string>;
    try {
      failed = await eachRun(ctx, "be-first", async (run) => {
        await resetFunction(ctx);
        const root = join(ctx.workDir, `be-first-${copy++}`);
        execFileSync("cp", ["-a", app.appRoot, root]);
        // A user's state (the Lambda hash cache lives in XDG_STATE_HOME) starts empty too.
        const xdg = join(ctx.workDir, `be-first-${copy - 1}-xdg`);
        mkdirSync(join(xdg, "state"), { recursive: true });
        mkdirSync(join(xdg, "cache"), { recursive: true });
        const session = await openSession({
          script: OUR_SERVER,
          cwd: root,
          env: { ...ctx.env, XDG_STATE_HOME: join(xdg, "state"), XDG_CACHE_HOME: join(xdg, "cache") },
          cleanup: ctx.cleanup,
        });
        let rss: number | null;
        let ours: { ms: number; value: ToolAnswer; traffic: Traffic };
        try {
          await session.client.listTools();
          ours = await measured(ctx, () => session.call("deploy_lambda", { env: "dev" }));
          rss = peakRssMb(session.pid);
        } finally {
          await session.close();
          rmSync(root, { recursive: true, force: true });
          rmSync(xdg, { recursive: true, force: true });
        }
        if (ours.value.isError) {
          if (NOT_BUILT.test(ours.value.text)) throw new NotBuilt();
          throw new Error(`deploy_lambda failed: ${ours.value.text.slice(0, 1500)}`);
        }
        const lines = ours.traffic.records.map((r) => r.line);
        const status = String(ours.value.structured.status);
        if (status !== "deployed" || countUpdateFunctionCode(lines) === 0 || countS3Writes(lines) === 0)
          throw new Error(
            `deploy_lambda of code that is not live ended "${status}" with ${countUpdateFunctionCode(lines)} UpdateFunctionCode and ${countS3Writes(lines)} S3 writes; expected a deploy`,
          );
        const baseline = await measured(ctx, () => seedScript(ctx, app.backendDir, zipPath));
        sizes.ours = ours.traffic.bytesUp;
        sizes.baseline = baseline.traffic.bytesUp;
        sizes.zip = baseline.value.zipBytes;
        ctx.log(
          `be-first ${run.label}: ours ${ours.ms.toFixed(0)} ms (${ours.traffic.requests} requests), seed script ${baseline.ms.toFixed(0)} ms (${baseline.traffic.requests} requests)`,
        );
        if (run.warmUp) return;
        const s = series.of(run.column.id);
        s.add("ours", ours.ms, ours.traffic);
        s.add("baseline", baseline.ms, baseline.traffic);
        s.rss(rss);
      });
    } catch (error) {
      if (error instanceof NotBuilt)
        return columnsOf(ctx, this).map((column) =>
          errorRow("be-first", column.id, "not available: deploy_lambda not built"),
        );
      throw error;
    }
    return ctx.args.shapes.map((column) => {
      const why = failed.get(column.id);
      if (why) return errorRow("be-first", column.id, why);
      const s = series.of(column.id);
      const row = rowFor(
        "be-first",
        column.id,
        s.runs,
        s.extra({
          notes: [
            `package of ${app.summary.files} files; bytes up ours ${(sizes.ours / 1e6).toFixed(1)} MB, seed script ${(sizes.baseline / 1e6).toFixed(1)} MB (its zip ${(sizes.zip / 1e6).toFixed(1)} MB); a fresh server per run, peak RSS the highest of them`,
          ],
        }),
      );
      if (row.baseline !== null) ctx.shared.set(seedScriptKey(column.id, "ms"), row.baseline);
      if (row.requests.baseline !== null)
        ctx.shared.set(seedScriptKey(column.id, "requests"), row.requests.baseline);
      return row;
    });
  },
};
