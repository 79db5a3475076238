import { randomBytes } from "node:crypto";
import { CancelledError, DeployError, RefusalError, throwIfAborted } from "../core/errors.js";
import { type GitState, readGitState } from "../release/git.js";
import { checkBinaries, checkTerraformDir } from "./binaries.js";
import { checkConfigSource } from "./config-check.js";
import type { InspectedTree, PreflightDeps } from "./deps.js";
import { checkGit } from "./git-checks.js";
import { checkIdentity, checkRegion } from "./identity.js";
import { checkInterrupted } from "./interrupted-check.js";
import { checkLock, readLockForPreflight } from "./lock-check.js";
import { checkResources } from "./resources.js";
import { checkTests } from "./tests.js";
import {
  ALL_COMPONENTS,
  asEvidence,
  type CheckStatus,
  type PreflightCheck,
  type PreflightComponent,
  type PreflightReport,
} from "./types.js";

export interface PreflightOptions {
  /** Default: backend, frontend and infra. */
  components?: PreflightComponent[] | undefined;
  skipTests?: boolean | undefined;
  /** Process environment for the PATH lookup and the shell-region hint (tests pass their own). */
  processEnv?: NodeJS.ProcessEnv;
}

/**
 * Runs every check a deploy of `components` to the deps' env depends on, concurrently where they
 * are independent, records the result for the tests-first gate and returns the report.
 * Failing checks are part of the report, not exceptions; only a refused `skipTests` and a
 * cancellation throw.
 */
export async function runPreflight(
  deps: PreflightDeps,
  options: PreflightOptions = {},
): Promise<PreflightReport> {
  const components = ALL_COMPONENTS.filter((c) => (options.components ?? ALL_COMPONENTS).includes(c));
  const skipTests = options.skipTests ?? false;
  const processEnv = options.processEnv ?? process.env;
  // Safety: a protected deploy must be vouched for by tests that actually ran on its commit.
  if (skipTests && deps.env.protected) {
    throw new RefusalError(
      `skipTests is refused on protected env "${deps.envName}": a deploy there needs a preflight whose tests ran and passed on the same commit. Run preflight without skipTests. Nothing was run.`,
      { reason: "skip_tests_protected" },
    );
  }
  throwIfAborted(deps.signal);
  const started = performance.now();
  const preflightId = newPreflightId(deps.now());
  deps.progress(`preflight ${preflightId}: checking ${components.join(", ")} for ${deps.envName}`);

  const gitBefore = readGitState(deps.appRoot, deps.run);
  // Safety: the backend tree (what the Lambda package would hold) is read before its tests
  // start too, so the digest recorded is the tree the tests ran on.
  const treeRead =
    components.includes("backend") && deps.inspectBackendTree ? settle(deps.inspectBackendTree()) : null;
  const testParts = (["backend", "frontend"] as const).filter((part) => components.includes(part));
  // Safety: the commit is read before any test starts, so the recorded sha is one the tests
  // saw (a test run that commits or checks out is then caught by the second read).
  const tests = testParts.map((part) =>
    guarded(`tests:${part}`, async () => {
      await gitBefore;
      if (part === "backend") await treeRead;
      return checkTests(deps, part, { skip: skipTests });
    }),
  );
  const tree = treeRead
    ? guarded("tree:backend", async () => checkBackendTree(await treeRead, deps.env.protected))
    : null;
  const testsSettled = Promise.allSettled(tests);
  const needsAws = components.includes("backend") || components.includes("frontend");

  const identity = guarded("aws-identity", () => checkIdentity(deps));
  const region = guarded("region", async () => checkRegion(deps, processEnv));
  const binaries = guarded("binaries", () => checkBinaries(deps, components, processEnv.PATH));
  const resources = needsAws ? guarded("resources", () => checkResources(deps, components)) : null;
  const terraformDir = components.includes("infra")
    ? guarded("terraform-dir", () => checkTerraformDir(deps))
    : null;
  // One read of the lock serves both checks, so they judge the same lock.
  const lockReading = readLockForPreflight(deps);
  const lock = guarded("lock", async () => checkLock(deps, await lockReading));
  const interrupted = guarded("interrupted", async () => checkInterrupted(deps, await lockReading));
  // Git is read again after the tests finish, to catch a HEAD that moved or files the tests
  // left behind.
  const gitStates = (async () => {
    const before = await gitBefore;
    if (tests.length === 0) return { before, after: before };
    await testsSettled;
    return { before, after: await readGitState(deps.appRoot, deps.run) };
  })();
  const git = guarded("git", async () =>
    checkGit({ ...(await gitStates), envName: deps.envName, protectedEnv: deps.env.protected }),
  );

  const config = deps.configPath === undefined ? null : Promise.resolve(checkConfigSource(deps.configPath));
  const ordered = [
    config,
    identity,
    region,
    git,
    tree,
    ...tests,
    binaries,
    resources,
    terraformDir,
    lock,
    interrupted,
  ].filter((p): p is Promise<PreflightCheck> => p !== null);
  const settled = await Promise.allSettled([...ordered, gitStates]);
  const cancelled = settled.find((s) => s.status === "rejected" && s.reason instanceof CancelledError);
  if (cancelled || deps.signal.aborted) throw new CancelledError();
  const checks = await Promise.all(ordered);
  const states = await gitStates.catch((): { before: GitState; after: GitState } | null => null);

  const ok = checks.every((c) => c.status !== "fail");
  const gitSha = states?.before.sha ?? null;
  // Safety: "clean" vouches for the tree the tests ran on and for the tree they left behind.
  const clean = Boolean(states?.before.clean && states.after.clean && states.before.sha === states.after.sha);
  const at = deps.now().toISOString();
  const read = treeRead ? await treeRead : null;
  const treeDigest = read && "tree" in read && read.tree.problems.length === 0 ? read.tree.digest : null;
  await deps.recordPreflight({
    preflightId,
    env: deps.envName,
    gitSha,
    clean,
    ok,
    at,
    components,
    treeDigest,
  });

  const counts: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0 };
  for (const check of checks) counts[check.status]++;
  const report: Omit<PreflightReport, "summary"> = {
    ok,
    preflightId,
    gitSha,
    env: deps.envName,
    components,
    at,
    counts,
    durationMs: Math.round(performance.now() - started),
    checks,
  };
  return { summary: summarise(deps, report, clean), ...report };
}

/**
 * Runs one check; an unexpected error becomes a failing check of that name (a broken check
 * must not pass silently, nor hide the others). Cancellation still propagates.
 */
async function guarded(name: string, check: () => Promise<PreflightCheck>): Promise<PreflightCheck> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof CancelledError) throw error;
    const message =
      error instanceof DeployError ? error.message : `${(error as Error)?.message ?? String(error)}`;
    return {
      name,
      status: "fail",
      detail: `The check could not run: ${message}`,
      remedy: "Fix the cause above and rerun preflight.",
    };
  }
}

function newPreflightId(now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
  return `pf-${stamp}-${randomBytes(4).toString("hex")}`;
}

/** One paragraph: verdict, counts, the first failure and its remedy (never command output). */
function summarise(
  deps: Pick<PreflightDeps, "envName" | "env" | "config">,
  report: Omit<PreflightReport, "summary">,
  clean: boolean,
): string {
  const { counts, checks } = report;
  const head = report.gitSha ? ` at ${report.gitSha.slice(0, 12)}` : "";
  const parts = [
    `Preflight ${report.preflightId} for "${deps.envName}" (${report.components.join(", ")})${head} ${report.ok ? "passed" : "failed"}: ${counts.pass} pass, ${counts.warn} warn, ${counts.fail} fail.`,
  ];
  const firstFail = checks.find((c) => c.status === "fail");
  if (firstFail) {
    parts.push(`First failure — ${firstFail.name}: ${firstFail.detail}`);
    if (firstFail.remedy) parts.push(`Fix: ${firstFail.remedy}`);
  }
  const warned = checks.filter((c) => c.status === "warn").map((c) => c.name);
  if (warned.length) parts.push(`Warnings: ${warned.join(", ")}.`);
  if (report.ok && deps.env.protected && clean && report.gitSha) {
    parts.push(
      `Deploys of this commit to "${deps.envName}" are unlocked for ${deps.config.preflightMaxAgeMinutes} min.`,
    );
  }
  return parts.join(" ");
}

type TreeRead = { tree: InspectedTree } | { error: unknown };

function settle(pending: Promise<InspectedTree>): Promise<TreeRead> {
  return pending.then(
    (tree) => ({ tree }),
    (error: unknown) => ({ error }),
  );
}

/**
 * `tree:backend`: every file the Lambda package would hold is committed and byte-equal to HEAD
 * (only the dependency dirs may be untracked). File names are the repo's text: evidence only.
 */
function checkBackendTree(read: TreeRead, protectedEnv: boolean): PreflightCheck {
  if ("error" in read) {
    if (read.error instanceof CancelledError) throw read.error;
    const known = read.error instanceof DeployError ? read.error : null;
    return {
      name: "tree:backend",
      status: "fail",
      detail: known
        ? `The backend tree could not be read: ${known.message}`
        : "The backend tree could not be read (the error is in evidence).",
      ...(known ? {} : { evidence: asEvidence([(read.error as Error)?.message ?? String(read.error)]) }),
      remedy: "Fix the cause above and rerun preflight.",
    };
  }
  const { tree } = read;
  if (tree.problems.length === 0) {
    return {
      name: "tree:backend",
      status: "pass",
      detail: `${tree.files} file(s) would be packaged, all committed at HEAD or in the dependency dirs (tree ${tree.digest.slice(0, 12)}).`,
    };
  }
  const kinds = [...new Set(tree.problems.map((p) => p.kind))];
  return {
    name: "tree:backend",
    // Like a dirty tree: fatal where the tests-first gate applies, a warning elsewhere (the
    // deploy itself still refuses such a tree).
    status: protectedEnv ? "fail" : "warn",
    detail: `${tree.problems.length} file(s) that would be packaged are not the committed ones (${kinds.join(", ")}; listed in evidence): the tests would not vouch for what goes live.`,
    remedy: tree.problems[0]?.fix ?? "Commit the backend, then rerun preflight.",
    evidence: asEvidence(tree.problems.map((p) => `${p.kind}: ${p.path}`)),
  };
}
