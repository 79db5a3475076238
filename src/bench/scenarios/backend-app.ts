import { join } from "node:path";
import type { BenchContext } from "../context.js";
import { writeAppRoot } from "../fixtures/app-root.js";
import { type BackendSummary, writeBackend } from "../fixtures/backend-tree.js";

export const BENCH_FUNCTION = "bench-api-dev";
export const BENCH_ARTIFACTS = "bench-lambda-artifacts";
/** The app root's dev env uses this prefix (fixtures/app-root.ts). */
export const BENCH_ARTIFACT_PREFIX = "backend/dev/";
export const BENCH_LOG_GROUP = "/aws/lambda/bench-api-dev";

export interface BackendApp {
  appRoot: string;
  backendDir: string;
  summary: BackendSummary;
}

const made = new WeakMap<BenchContext, BackendApp>();

/** One app root with the backend fixture, shared by zip, lambda-noop and logs-10k. */
export function backendApp(ctx: BenchContext): BackendApp {
  const existing = made.get(ctx);
  if (existing) return existing;
  const appRoot = join(ctx.workDir, "backend-app");
  writeAppRoot(appRoot, {
    frontendBuckets: ["bench-backend-app-site"],
    distributionId: null,
    artifactBucket: BENCH_ARTIFACTS,
    functionName: BENCH_FUNCTION,
    logGroup: BENCH_LOG_GROUP,
  });
  const backendDir = join(appRoot, "backend");
  const summary = writeBackend(backendDir, {
    packages: ctx.sizes.backendPackages,
    appModules: ctx.sizes.appModules,
  });
  ctx.fixtures.push(
    `backend: ${summary.files} files, ${(summary.bytes / 1e6).toFixed(1)} MB (app code + ${summary.packages.join(", ")} from ${summary.sitePackages}${
      summary.missingPackages.length ? `; not installed here: ${summary.missingPackages.join(", ")}` : ""
    })`,
  );
  const app = { appRoot, backendDir, summary };
  made.set(ctx, app);
  return app;
}
