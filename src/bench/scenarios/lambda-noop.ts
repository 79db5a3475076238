import { iterations, type Scenario, TARGETS } from "../context.js";
import {
  countPublishVersion,
  countS3Writes,
  countUpdateFunctionCode,
  startCountingProxy,
} from "../count-proxy.js";
import { createBucket, createFunction } from "../fixtures/aws-world.js";
import { NOT_BUILT, OUR_SERVER, openSession } from "../mcp-session.js";
import { measuredRow, unavailableRow } from "../results.js";
import { timed } from "../timing.js";
import { BENCH_ARTIFACT_PREFIX, BENCH_ARTIFACTS, BENCH_FUNCTION, backendApp } from "./backend-app.js";

/**
 * deploy_lambda of code that is already live: the whole call (package, compare with the live
 * CodeSha256, answer) must stay under 2 s and write nothing. Our server talks to moto
 * through a counting proxy, so every S3 write and UpdateFunctionCode call is seen.
 */
export const lambdaNoopScenario: Scenario = {
  ids: ["lambda-noop"],
  async run(ctx) {
    const app = backendApp(ctx);
    await createBucket(await ctx.clients.s3(), BENCH_ARTIFACTS);
    await createFunction(ctx.clients, ctx.moto.endpoint, BENCH_FUNCTION, {
      bucket: BENCH_ARTIFACTS,
      prefix: BENCH_ARTIFACT_PREFIX,
    });
    const proxy = await startCountingProxy(ctx.moto.endpoint, ctx.cleanup);
    const session = await openSession({
      script: OUR_SERVER,
      cwd: app.appRoot,
      env: { ...ctx.env, AWS_ENDPOINT_URL: proxy.endpoint },
      cleanup: ctx.cleanup,
    });
    // The first deploy puts this tree live (not measured).
    const first = await session.call("deploy_lambda", { env: "dev" });
    if (first.isError) {
      if (NOT_BUILT.test(first.text))
        return [
          unavailableRow(
            "lambda-noop",
            TARGETS["lambda-noop"].unit,
            TARGETS["lambda-noop"].target,
            "not available: deploy_lambda not built",
          ),
        ];
      throw new Error(`the first deploy_lambda failed: ${first.text.slice(0, 1500)}`);
    }
    if (first.structured.status !== "deployed")
      throw new Error(
        `the first deploy_lambda ended "${String(first.structured.status)}", expected "deployed"`,
      );

    const runs = { ours: [] as number[], baseline: [] as number[] };
    const counted = { s3Writes: 0, updateCode: 0, publish: 0, requests: 0 };
    const statuses = new Set<string>();
    for (let i = 0; i < iterations(ctx); i++) {
      proxy.reset();
      const { ms, value } = await timed(() => session.call("deploy_lambda", { env: "dev" }));
      if (value.isError)
        throw new Error(`deploy_lambda of unchanged code failed: ${value.text.slice(0, 1500)}`);
      statuses.add(String(value.structured.status));
      counted.s3Writes += countS3Writes(proxy.requests);
      counted.updateCode += countUpdateFunctionCode(proxy.requests);
      counted.publish += countPublishVersion(proxy.requests);
      counted.requests = proxy.requests.length;
      ctx.log(
        `lambda-noop ${i === 0 ? "warm-up" : `run ${i}`}: ${ms.toFixed(0)} ms, ${String(value.structured.status)}, ${proxy.requests.length} AWS requests`,
      );
      if (i > 0) runs.ours.push(ms);
    }
    await session.close();
    await proxy.stop();
    const calls = iterations(ctx);
    return [
      measuredRow("lambda-noop", TARGETS["lambda-noop"].unit, TARGETS["lambda-noop"].target, runs, {
        checks: [
          { what: `S3 PUT/POST = ${counted.s3Writes} over ${calls} calls`, ok: counted.s3Writes === 0 },
          { what: `UpdateFunctionCode = ${counted.updateCode}`, ok: counted.updateCode === 0 },
          { what: `PublishVersion = ${counted.publish}`, ok: counted.publish === 0 },
          { what: `status ${[...statuses].join("/")}`, ok: statuses.size === 1 && statuses.has("unchanged") },
        ],
        notes: [`${counted.requests} AWS requests per call; package of ${app.summary.files} files`],
      }),
    ];
  },
};
