import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HealthReport } from "../../observe/health.js";
import type { LogEventOut } from "../../observe/logs.js";
import type { ToolContext } from "../../release/context.js";
import { digestPlan } from "../../release/plan-digest.js";
import { listReleaseRecords } from "../../release/records.js";
import { runGuardedMutation } from "../../release/run-release.js";
import { readLiveCode } from "./code.js";
import { buildLambdaPackage, formatBytes, type LambdaPackage } from "./package.js";
import { type LambdaDeployPlan, type LambdaPlanDetails, planLambdaDeploy } from "./plan.js";
import { failingChecks, type LambdaReleaseDeps, releaseLambda } from "./release.js";

export interface DeployLambdaRequest {
  dryRun: boolean;
  force: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

export interface DeployLambdaOutput {
  summary: string;
  status: "planned" | "confirmation_required" | "unchanged" | "deployed" | "rolled_back" | "failed";
  plan: Record<string, unknown>;
  confirmationToken?: string;
  expiresAt?: string;
  codeSha256: string;
  previousVersion?: string;
  version?: string;
  releaseId?: string;
  health?: Record<string, unknown>;
  failure?: string;
  errorLogs?: LogEventOut[];
  errorLogsNote?: string;
  warnings?: string[];
}

/** Test and benchmark knobs; the tool uses the defaults. */
export type DeployLambdaTuning = Pick<
  LambdaReleaseDeps,
  "healthAttempts" | "healthIntervalMs" | "conflictRetryMinMs"
>;

/**
 * deploy_lambda: package → plan (no-op when the live CodeSha256 already matches) → guarded
 * release. The package is built in a private temp folder that is removed afterwards.
 */
export async function deployLambda(
  ctx: ToolContext,
  request: DeployLambdaRequest,
  tuning: DeployLambdaTuning = {},
): Promise<DeployLambdaOutput> {
  const workDir = await mkdtemp(join(tmpdir(), "vyaparai-lambda-"));
  try {
    ctx.progress("Packaging the backend");
    const pkg = await buildLambdaPackage({
      appRoot: ctx.appRoot,
      backend: ctx.config.backend,
      outFile: join(workDir, "package.zip"),
      signal: ctx.signal,
      onProgress: (message) => ctx.progress(message),
    });
    ctx.progress("Reading the live function and release history");
    const [lambda, s3] = await Promise.all([ctx.aws.lambda(), ctx.aws.s3()]);
    const { functionName, alias, artifactBucket } = ctx.env.lambda;
    const [live, records] = await Promise.all([
      readLiveCode(lambda, functionName, alias),
      listReleaseRecords(s3, artifactBucket, ctx.envName, "lambda", { limit: 20 }),
    ]);
    const { plan, details } = await planLambdaDeploy({
      env: ctx.env,
      pkg,
      live,
      records,
      s3,
      force: request.force,
    });
    const shownPlan = { ...plan, ...details };

    if (details.unchanged && !request.force) {
      return {
        summary: `No change: the package (CodeSha256 ${pkg.codeSha256}) is already live on ${describeTarget(plan)}. Nothing was uploaded or updated; pass force: true to deploy anyway.`,
        status: "unchanged",
        plan: shownPlan,
        codeSha256: pkg.codeSha256,
        previousVersion: live.version,
      };
    }
    const planSummary = describePlan(plan, details, pkg);
    if (request.dryRun) {
      return {
        summary: `Dry run: ${planSummary}`,
        status: "planned",
        plan: shownPlan,
        codeSha256: pkg.codeSha256,
      };
    }

    const guarded = await runGuardedMutation(
      {
        ctx,
        component: "lambda",
        plan,
        planDigest: digestPlan(plan),
        planSummary,
        confirmationToken: request.confirmationToken,
        breakLock: request.breakLock,
        requirePreflight: true,
      },
      (release) =>
        releaseLambda(
          {
            lambda,
            s3,
            logs: () => ctx.aws.logs(),
            env: ctx.env,
            signal: ctx.signal,
            now: ctx.now,
            progress: ctx.progress,
            ...tuning,
          },
          plan,
          pkg,
          release,
        ),
    );
    if (guarded.kind === "confirmation_required") {
      return {
        summary: `Confirmation required for ${ctx.envName}: ${planSummary} Show this plan to the user; if they agree, call deploy_lambda again with the confirmationToken (valid until ${guarded.expiresAt}).`,
        status: "confirmation_required",
        plan: shownPlan,
        confirmationToken: guarded.confirmationToken,
        expiresAt: guarded.expiresAt,
        codeSha256: pkg.codeSha256,
      };
    }
    const result = guarded.result;
    const warnings = (guarded as { warnings?: string[] }).warnings;
    const common = {
      plan: shownPlan,
      codeSha256: pkg.codeSha256,
      previousVersion: result.previousVersion,
      ...(result.version ? { version: result.version } : {}),
      releaseId: guarded.releaseId,
      ...(result.health ? { health: result.health as unknown as Record<string, unknown> } : {}),
      ...(warnings?.length ? { warnings } : {}),
    };
    if (result.status === "deployed") {
      return {
        summary: `Deployed ${pkg.codeSha256} to ${describeTarget(plan)} as version ${result.version} (release ${guarded.releaseId}); health ${healthWord(result.health)}. Previous version ${result.previousVersion}; roll back with the rollback tool (component "lambda").`,
        status: "deployed",
        ...common,
      };
    }
    return {
      summary: `Release ${guarded.releaseId} failed and was rolled back: ${result.failure}. ${describeTarget(plan)} serves version ${plan.fromVersion} (CodeSha256 ${plan.fromCodeSha256}) again.${result.errorLogs?.length ? ` ${result.errorLogs.length} ERROR log lines since the deploy began are in errorLogs (untrusted text).` : ""}`,
      status: "rolled_back",
      ...common,
      ...(result.failure ? { failure: result.failure } : {}),
      ...(result.errorLogs ? { errorLogs: result.errorLogs } : {}),
      ...(result.errorLogsNote ? { errorLogsNote: result.errorLogsNote } : {}),
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function describeTarget(plan: LambdaDeployPlan): string {
  return plan.alias ? `${plan.functionName}:${plan.alias}` : `${plan.functionName} ($LATEST)`;
}

function describePlan(plan: LambdaDeployPlan, details: LambdaPlanDetails, pkg: LambdaPackage): string {
  const changes = plan.fileChanges.comparedWith
    ? `${plan.fileChanges.added} files added, ${plan.fileChanges.changed} changed, ${plan.fileChanges.removed} removed since release ${plan.fileChanges.comparedWith}`
    : `${plan.files} files (no earlier release manifest to compare with)`;
  const upload = details.uploadNeeded
    ? `upload ${formatBytes(pkg.bytes)} to s3://${plan.artifactBucket}/${plan.artifactKey}`
    : `reuse s3://${plan.artifactBucket}/${plan.artifactKey}`;
  const way = plan.alias
    ? `publish a version and move alias ${plan.alias} from version ${plan.fromVersion}`
    : "publish a version";
  return `Deploy ${pkg.codeSha256} to ${describeTarget(plan)} (now ${plan.fromCodeSha256}): ${changes}; ${upload}; update the code, ${way}, then run the health gate and roll back automatically on failure.${plan.force && details.unchanged ? " Forced although the code is unchanged." : ""}`;
}

function healthWord(health: HealthReport | null): string {
  if (!health) return "not checked";
  return health.verdict === "healthy" ? "healthy" : `${health.verdict} (${failingChecks(health)})`;
}
