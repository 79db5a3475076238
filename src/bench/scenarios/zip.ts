import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { backendSchema } from "../../config/schema.js";
import { buildLambdaPackage } from "../../deploy/lambda/package.js";
import { iterations, rowFor, type Scenario } from "../context.js";
import { timed, timedProgram } from "../timing.js";
import { backendApp } from "./backend-app.js";

/**
 * The packager called as a library (what deploy_lambda runs first) against `zip -qrX` of
 * the same tree the way today's script lays it out: lambda_deps' content at the root, then
 * app/ and lambda_handler.py added. Both write a zip file from scratch each run.
 */
export const zipScenario: Scenario = {
  ids: ["zip"],
  loopbackOnly: true,
  async run(ctx) {
    const app = backendApp(ctx);
    const backend = backendSchema.parse({ testCommand: null });
    const oursOut = join(ctx.workDir, "zip-ours.zip");
    const zipOut = join(ctx.workDir, "zip-baseline.zip");
    const runs = { ours: [] as number[], baseline: [] as number[] };
    const sizes = { ours: 0, baseline: 0, entries: 0 };
    for (let i = 0; i < iterations(ctx); i++) {
      rmSync(oursOut, { force: true });
      rmSync(zipOut, { force: true });
      const ours = await timed(() => buildLambdaPackage({ appRoot: app.appRoot, backend, outFile: oursOut }));
      const baseline = await timed(async () => {
        await timedProgram(ctx.programs.zip, ["-qrX", zipOut, "."], {
          env: ctx.env,
          cwd: join(app.backendDir, "lambda_deps"),
        });
        await timedProgram(ctx.programs.zip, ["-qrX", zipOut, "app", "lambda_handler.py"], {
          env: ctx.env,
          cwd: app.backendDir,
        });
      });
      sizes.ours = ours.value.bytes;
      sizes.baseline = statSync(zipOut).size;
      sizes.entries = ours.value.entries.length;
      ctx.log(
        `zip ${i === 0 ? "warm-up" : `run ${i}`}: ours ${ours.ms.toFixed(0)} ms, zip -qrX ${baseline.ms.toFixed(0)} ms`,
      );
      if (i === 0) continue;
      runs.ours.push(ours.ms);
      runs.baseline.push(baseline.ms);
    }
    return [
      rowFor("zip", "loopback", runs, {
        notes: [
          `${sizes.entries} entries; zip size ours ${(sizes.ours / 1e6).toFixed(1)} MB, zip -qrX ${(sizes.baseline / 1e6).toFixed(1)} MB (both deflate); in-process, no network`,
        ],
      }),
    ];
  },
};
