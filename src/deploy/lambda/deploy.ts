import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BackendConfig } from "../../config/schema.js";
import { DeployError } from "../../core/errors.js";
import { type CommandRunner, runCommand } from "../../core/run-command.js";
import { type InterruptedRelease, readInterruptedFor } from "../../release/interrupted.js";
import { listReleaseRecords } from "../../release/records.js";
import type { ReleaseRecord } from "../../release/types.js";
import { codeLocationOf } from "./artifact.js";
import { type CanarySettings, canaryPlanOf } from "./canary.js";
import { type LiveLambdaCode, readLiveRouting } from "./code.js";
import type { LambdaDeps } from "./deps.js";
import { type HashCacheOpener, sharedHashCache } from "./hash-cache.js";
import { buildLambdaPackage, type EarlyWalk, formatBytes, type LambdaPackage } from "./package.js";
import { type LambdaDeployPlan, type LambdaPlanDetails, planLambdaDeploy } from "./plan.js";
import { type LambdaDeploySpec, lambdaDeploySpec, noWayBackWarning } from "./release.js";
import {
  STAGE_ABOVE_UNZIPPED_BYTES,
  type StagedUpload,
  startStagedUpload,
  sweepStaging,
} from "./staged-upload.js";
import {
  type DigestEntry,
  inspectPackagedTree,
  type PackagedTree,
  treeDigestOf,
  treeRefusal,
} from "./tree.js";

export interface DeployLambdaRequest {
  appRoot: string;
  backend: BackendConfig;
  force: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
  /** Runs git for the tree check; the real runner when omitted. */
  run?: CommandRunner | undefined;
  /** Strategy canary: publish, send a share of the alias to the new version, bake, promote or roll back. */
  canary?: CanarySettings | undefined;
  /**
   * The call will deploy (not a dry run, nor a protected env's call without its token): a
   * large package then goes up while it is zipped (staged-upload.ts).
   */
  stageUpload?: boolean | undefined;
  /** The backend's walk, started when the call began (the tool's prefetch). */
  walked?: EarlyWalk | null | undefined;
}

export type { LambdaDeploySpec } from "./release.js";

export interface PreparedLambdaDeploy {
  pkg: LambdaPackage;
  /** The backend as checked against git HEAD; its digest is the plan's treeDigest. */
  tree: PackagedTree;
  plan: LambdaDeployPlan;
  details: LambdaPlanDetails;
  live: LiveLambdaCode;
  /** The env's Lambda release records, newest first. */
  records: ReleaseRecord[];
  /** Releases of the env that never finished; a guarded call recovers them first. */
  interrupted: InterruptedRelease[];
  /** What the release flow runs; its steps are empty when only recovery is left to do. */
  spec: LambdaDeploySpec;
  /** The plan text a person approves. */
  planText: string;
  /** What the person should know before approving (e.g. no way back to the code live now). */
  planWarnings: string[];
  /** The successful release whose code is live now (null: none recorded, e.g. before the first). */
  liveRelease: string | null;
  /**
   * The release a rollback without `to` restores once this deploy is live; null: it restores
   * the code live before this deploy (rollback.ts resolveRollbackTarget, the same order).
   */
  rollsBackTo: string | null;
  /** Removes the package's temp folder and any staged upload; call once the release is over. */
  dispose(): Promise<void>;
}

/**
 * deploy_lambda up to the release: check the tree against git HEAD → package → read live
 * code, history, lock → plan (no-op when the live CodeSha256 already matches) → the release
 * spec. The package is built in a private temp folder that `dispose` removes.
 */
export async function prepareLambdaDeploy(
  deps: LambdaDeps,
  request: DeployLambdaRequest,
): Promise<PreparedLambdaDeploy> {
  if (request.canary) assertCanCanary(deps);
  const workDir = await mkdtemp(join(tmpdir(), "vyaparai-lambda-"));
  let staged: StagedUpload | null = null;
  let swept: Promise<unknown> | null = null;
  const dispose = async () => {
    // The staged upload reads the zip in workDir: it stops before the folder goes.
    await staged?.discard();
    await swept;
    await rm(workDir, { recursive: true, force: true });
  };
  // Packaging runs beside the tree check, not after it: both read the whole backend, and a
  // large package's upload starts with its first bytes. Nothing is deployed before the check
  // passed and the package was found to be exactly the checked tree (assertPackageIsTree);
  // a refused tree stops the packaging and discards what was staged.
  const packaging = new AbortController();
  const stopPackaging = () => packaging.abort();
  deps.signal.addEventListener("abort", stopPackaging, { once: true });
  try {
    const outFile = join(workDir, "package.zip");
    const { artifactBucket, artifactPrefix } = deps.env.lambda;
    deps.progress("Checking the backend against git HEAD and packaging it");
    // Both walks read and fill one hash cache, taken as of now (before either stats a file).
    const startedAt = request.walked?.startedAt ?? Date.now();
    const openCache = sharedHashCache({ now: () => startedAt });
    const packed = buildLambdaPackage({
      appRoot: request.appRoot,
      backend: request.backend,
      outFile,
      signal: packaging.signal,
      onProgress: (message) => deps.progress(message),
      // An unchanged tree is answered from the hash cache without reading it; the zip is then
      // written (and checked against the planned SHA-256) only if the upload needs it.
      deferZip: true,
      openCache,
      walked: request.walked ?? undefined,
      observeZip: (unzippedBytes) => {
        if (!request.stageUpload || unzippedBytes < STAGE_ABOVE_UNZIPPED_BYTES) return null;
        const own = startStagedUpload({
          unzippedBytes,
          s3: deps.s3,
          bucket: artifactBucket,
          prefix: artifactPrefix,
          file: outFile,
        });
        staged = own;
        // What a killed process left under staging/ is reclaimed while this upload runs — once
        // the upload is created: the creation takes the open connection, the sweep a new one.
        const now = deps.now();
        swept = own.created.then(() =>
          sweepStaging({ s3: deps.s3, bucket: artifactBucket, prefix: artifactPrefix, now, keep: own.key }),
        );
        return own.observer;
      },
    });
    packed.catch(() => {});
    let tree: PackagedTree;
    try {
      tree = await checkTree(
        deps,
        request,
        packed.then((pkg) => new Map(pkg.entries.map((entry) => [entry.name, entry]))),
        openCache,
      );
    } catch (error) {
      packaging.abort();
      await packed.catch(() => {});
      throw error;
    }
    const pkg = await packed;
    assertPackageIsTree(tree, pkg);
    deps.progress("Reading the live function and release history");
    const [planned, interrupted] = await Promise.all([
      planFor(deps, pkg, tree, request.force, request.canary),
      readInterruptedFor(deps.s3, deps.env.lambda.artifactBucket, deps.envName, deps.now),
    ]);
    if (request.canary && planned.plan.rollback) assertAliasWhole(planned.plan, planned.weights, interrupted);
    const planText = describeLambdaPlan(planned.plan, planned.details, pkg, planned.warnings);
    const specFor = (p: typeof planned): LambdaDeploySpec =>
      lambdaDeploySpec(deps, {
        plan: p.plan,
        pkg,
        confirmationToken: request.confirmationToken,
        breakLock: request.breakLock,
        approvalText: p.plan.rollback
          ? describeLambdaPlan(p.plan, p.details, pkg, p.warnings)
          : recoveryOnlyText(interrupted),
        canary: request.canary,
        staged,
        // After a recovery changed what is live, the same package is planned against it again.
        replan: async () => {
          const again = await planFor(deps, pkg, tree, request.force, request.canary);
          return again.plan.rollback ? specFor(again) : null;
        },
      });
    return {
      pkg,
      tree,
      ...planned,
      planWarnings: planned.warnings,
      liveRelease: releaseServing(planned.records, planned.live),
      rollsBackTo: newestOtherCodeRelease(planned.records, pkg.codeSha256),
      interrupted,
      spec: specFor(planned),
      planText,
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  } finally {
    deps.signal.removeEventListener("abort", stopPackaging);
  }
}

/**
 * Safety: on every env, protected or not, only a tree git HEAD vouches for is packaged —
 * an edit hidden by skip-worktree or a file kept out of `git status` never reaches Lambda.
 */
async function checkTree(
  deps: LambdaDeps,
  request: DeployLambdaRequest,
  dependencyEntries: Promise<ReadonlyMap<string, DigestEntry>>,
  openCache: HashCacheOpener,
): Promise<PackagedTree> {
  const tree = await inspectPackagedTree({
    appRoot: request.appRoot,
    backend: request.backend,
    run: request.run ?? runCommand,
    signal: deps.signal,
    dependencyEntries,
    openCache,
  });
  if (tree.problems.length > 0) throw treeRefusal(tree);
  return tree;
}

/** Safety: a file written between the check and the packaging would ship unchecked bytes. */
function assertPackageIsTree(tree: PackagedTree, pkg: LambdaPackage): void {
  if (treeDigestOf(tree.headSha, pkg.entries) === tree.digest) return;
  throw new DeployError(
    "PRECONDITION",
    "The backend changed between its check against git HEAD and its packaging. Retry once nothing writes into the backend folder. Nothing was uploaded.",
  );
}

async function planFor(
  deps: LambdaDeps,
  pkg: LambdaPackage,
  tree: PackagedTree,
  force: boolean,
  canary: CanarySettings | undefined,
) {
  const { functionName, alias, artifactBucket } = deps.env.lambda;
  const [{ weights, ...live }, records] = await Promise.all([
    readLiveRouting(deps.lambda, functionName, alias),
    listReleaseRecords(deps.s3, artifactBucket, deps.envName, "lambda", { limit: 20 }),
  ]);
  const { plan, details } = await planLambdaDeploy({
    env: deps.env,
    pkg,
    live,
    records,
    s3: deps.s3,
    force,
    treeDigest: tree.digest,
    canary: canary ? canaryPlanOf(canary) : undefined,
  });
  if (canary && plan.rollback && plan.fromCodeSha256 === plan.codeSha256) {
    // Safety: a canary of the code already live would compare a version with itself.
    throw new DeployError(
      "PRECONDITION",
      `The package (CodeSha256 ${plan.codeSha256}) is already live on ${describeTarget(plan)}: a canary would compare it with itself. Deploy without strategy "canary" to force it, or change the code. Nothing was changed.`,
    );
  }
  const warnings = await wayBackWarnings(deps, plan);
  const shares = sharesText(weights);
  if (shares && plan.rollback && !canary) {
    warnings.push(
      `Alias ${plan.alias} of ${plan.functionName} splits its traffic now (${shares} besides version ${plan.fromVersion}); this deploy moves the whole alias to the new version, so that split ends.`,
    );
  }
  return { plan, details, live, weights, records, warnings };
}

function sharesText(weights: Record<string, number>): string | null {
  const shares = Object.entries(weights);
  if (shares.length === 0) return null;
  return shares.map(([version, share]) => `version ${version} ${Math.round(share * 1000) / 10}%`).join(", ");
}

/** A canary splits an alias: refused in $LATEST mode and without the logs it is judged by. */
function assertCanCanary(deps: LambdaDeps): void {
  if (!deps.env.lambda.alias) {
    throw new DeployError(
      "PRECONDITION",
      `strategy "canary" needs an alias: $LATEST mode has no alias to split (environments.${deps.envName}.lambda.alias is null). Configure lambda.alias, or deploy without strategy "canary". Nothing was changed.`,
    );
  }
  if (!deps.logs) {
    throw new DeployError(
      "PRECONDITION",
      `strategy "canary" judges the new version by its logs, and this call has no logs client. Nothing was changed.`,
    );
  }
}

/**
 * Safety: a canary replaces the alias's weighted routing; a split it did not make (another
 * tool's canary, a hand-made one) is not overwritten. One left by an interrupted release of
 * this tool is settled by this call's recovery first, so it is not a reason to refuse.
 */
function assertAliasWhole(
  plan: LambdaDeployPlan,
  weights: Record<string, number>,
  interrupted: InterruptedRelease[],
): void {
  if (interrupted.some((i) => i.record.component === "lambda")) return;
  const text = sharesText(weights);
  if (!text) return;
  throw new DeployError(
    "PRECONDITION",
    `Alias ${plan.alias} of ${plan.functionName} already splits its traffic (${text} besides version ${plan.fromVersion}) and no interrupted release of this tool explains it. Settle that split first (the rollback tool, or aws lambda update-alias … --routing-config AdditionalVersionWeights={}). Nothing was changed.`,
  );
}

/**
 * Whether the code live now can still be kept before it is replaced ($LATEST mode, no artifact
 * yet): the download itself happens during the release, but a function whose GetFunction
 * offers no code location is known now, and the person approving is told before the change.
 */
async function wayBackWarnings(deps: LambdaDeps, plan: LambdaDeployPlan): Promise<string[]> {
  const rollback = plan.rollback;
  if (rollback?.mode !== "artifact" || !rollback.saveFromLambda) return [];
  if (await codeLocationOf(deps.lambda, plan.functionName)) return [];
  return [
    noWayBackWarning(
      plan,
      rollback.artifactKey,
      "Lambda's GetFunction offers no download location for it",
      "plan",
    ),
  ];
}

/** The newest successful release whose recorded code is not `codeSha256`. */
function newestOtherCodeRelease(records: ReleaseRecord[], codeSha256: string): string | null {
  const found = records.find((r) => {
    const after = r.after as { codeSha256?: unknown };
    return (
      r.status === "succeeded" &&
      typeof after.codeSha256 === "string" &&
      after.codeSha256 !== "" &&
      after.codeSha256 !== codeSha256
    );
  });
  return found?.releaseId ?? null;
}

/** The newest successful release (deploy or rollback) whose recorded live state is what serves now. */
export function releaseServing(records: ReleaseRecord[], live: LiveLambdaCode): string | null {
  const match = records.find((r) => {
    const after = r.after as { version?: unknown; codeSha256?: unknown };
    return (
      r.status === "succeeded" &&
      after.codeSha256 === live.codeSha256 &&
      (!live.alias || after.version === live.version)
    );
  });
  return match?.releaseId ?? null;
}

function recoveryOnlyText(interrupted: InterruptedRelease[]): string {
  const ids = interrupted.map(
    (i) => `${i.record.releaseId} (${i.record.component}, phase ${i.record.phase ?? "unknown"})`,
  );
  return `The code is already live; settle the interrupted release(s) ${ids.join(", ")} first: ${interrupted.map((i) => i.record.recoveryPlan ?? "").join(" ")}`.trim();
}

export function describeTarget(plan: Pick<LambdaDeployPlan, "alias" | "functionName">): string {
  return plan.alias ? `${plan.functionName}:${plan.alias}` : `${plan.functionName} ($LATEST)`;
}

export function describeLambdaPlan(
  plan: LambdaDeployPlan,
  details: LambdaPlanDetails,
  pkg: LambdaPackage,
  warnings: string[] = [],
): string {
  const changes = plan.fileChanges.comparedWith
    ? `${plan.fileChanges.added} files added, ${plan.fileChanges.changed} changed, ${plan.fileChanges.removed} removed since release ${plan.fileChanges.comparedWith}`
    : `${plan.files} files (no earlier release manifest to compare with)`;
  const upload = details.uploadNeeded
    ? `upload ${formatBytes(pkg.bytes)} to s3://${plan.artifactBucket}/${plan.artifactKey}`
    : `reuse s3://${plan.artifactBucket}/${plan.artifactKey}`;
  const canary = plan.canary;
  const way = plan.alias
    ? canary
      ? `publish a version, send ${canary.percent}% of alias ${plan.alias}'s traffic to it for ${canary.bakeMinutes} min while version ${plan.fromVersion} keeps the rest, and compare its errors, timeouts and p95 from its own logs with version ${plan.fromVersion}'s (it fails at more than +${canary.thresholds.maxErrorRatePoints} points of error rate, +${canary.thresholds.maxTimeoutRatePoints} points of timeout rate or +${canary.thresholds.maxP95IncreasePercent}% p95, fewer than ${canary.thresholds.minInvocations} invocations, or unhealthy health targets); if it passes, move the alias to it alone, else remove its share`
      : `publish a version and move alias ${plan.alias} from version ${plan.fromVersion}`
    : "publish a version of it for the record ($LATEST is what serves)";
  const keep =
    plan.rollback?.mode === "artifact" && plan.rollback.saveFromLambda
      ? `save the code live now from Lambda to s3://${plan.artifactBucket}/${plan.rollback.artifactKey} (the way back; if it cannot be downloaded, the deploy goes on and says so); `
      : "";
  const warned = warnings.length ? ` Warning: ${warnings.join(" ")}` : "";
  return `Deploy ${pkg.codeSha256} to ${describeTarget(plan)} (now ${plan.fromCodeSha256}): ${changes}; ${keep}${upload}; update the code, ${way}, then run the health gate and roll back automatically on failure.${plan.force && details.unchanged ? " Forced although the code is unchanged." : ""}${warned}`;
}

/**
 * The newest finished release when it failed and left its own new code live (its undo did not
 * finish): that code never passed its health gate, whatever a new plan says about it.
 */
export function failedReleaseStillLive(records: ReleaseRecord[], live: LiveLambdaCode): ReleaseRecord | null {
  const newest = records.find((r) => r.status !== "in_progress");
  if (newest?.status !== "failed") return null;
  const after = newest.after as { codeSha256?: unknown };
  const before = newest.before as { codeSha256?: unknown };
  return after.codeSha256 === live.codeSha256 && before.codeSha256 !== live.codeSha256 ? newest : null;
}
