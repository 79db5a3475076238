import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchContext } from "../context.js";
import { writeAppRoot } from "../fixtures/app-root.js";
import { createBucket, createFunction, resetLiveCode } from "../fixtures/aws-world.js";
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
/** Per emulator: a scenario on a fresh one creates them again. */
const functions = new WeakMap<BenchContext["moto"], Promise<void>>();

const ARTIFACT = { bucket: BENCH_ARTIFACTS, prefix: BENCH_ARTIFACT_PREFIX };

/** The artifact bucket and the function, created once per run (be-first and lambda-noop share them). */
export function ensureFunction(ctx: BenchContext): Promise<void> {
  let pending = functions.get(ctx.moto);
  if (!pending) {
    pending = (async () => {
      await createBucket(await ctx.clients.s3(), BENCH_ARTIFACTS);
      await createFunction(ctx.clients, ctx.moto.endpoint, BENCH_FUNCTION, ARTIFACT);
    })();
    functions.set(ctx.moto, pending);
  }
  return pending;
}

/** The function back to the seed's code, the artifact bucket back to empty but for that code. */
export async function resetFunction(ctx: BenchContext): Promise<void> {
  await ensureFunction(ctx);
  await resetLiveCode(ctx.clients, BENCH_FUNCTION, ARTIFACT);
}

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
  commitSources(appRoot);
  const app = { appRoot, backendDir, summary };
  made.set(ctx, app);
  return app;
}

/**
 * A deploy packages only committed sources (the dependency dirs, build output, may stay
 * untracked), so the app root is a git repo with everything but lambda_deps committed.
 */
function commitSources(appRoot: string): void {
  writeFileSync(join(appRoot, ".gitignore"), "backend/lambda_deps/\n__pycache__/\n*.pyc\n");
  const env = {
    ...process.env,
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "bench",
    GIT_AUTHOR_EMAIL: "bench@example.invalid",
    GIT_COMMITTER_NAME: "bench",
    GIT_COMMITTER_EMAIL: "bench@example.invalid",
  };
  const git = (...args: string[]) => execFileSync("git", args, { cwd: appRoot, env, stdio: "ignore" });
  git("init", "--quiet", "--initial-branch=main");
  git("add", "-A");
  git("commit", "--quiet", "-m", "bench app");
}
