import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import type { S3Client } from "@aws-sdk/client-s3";
import type { EnvConfig } from "../../config/schema.js";
import { CancelledError, DeployError, throwIfAborted } from "../../core/errors.js";
import { checkHealth, type HealthReport } from "../../observe/health.js";
import { resolveLogGroup } from "../../observe/log-group.js";
import { type LogEventOut, queryLogs } from "../../observe/logs.js";
import type { MutationOutcome, ReleaseHandle } from "../../release/types.js";
import { artifactExists, savePreviousCode, uploadArtifact } from "./artifact.js";
import { moveAlias, publishVersion, updateCodeFromS3 } from "./code.js";
import type { LambdaPackage } from "./package.js";
import { type LambdaDeployPlan, manifestOf } from "./plan.js";

export interface LambdaReleaseDeps {
  lambda: LambdaClient;
  s3: S3Client;
  /** Null skips the error-log excerpt of a rolled-back release. */
  logs: (() => Promise<CloudWatchLogsClient>) | null;
  env: EnvConfig;
  signal: AbortSignal;
  now: () => Date;
  progress: (message: string, done?: number, total?: number) => void;
  /** Health gate shape; the defaults suit a real API behind API Gateway. */
  healthAttempts?: number;
  healthIntervalMs?: number;
  conflictRetryMinMs?: number;
}

export interface LambdaReleaseResult {
  status: "deployed" | "rolled_back" | "failed";
  codeSha256: string;
  previousVersion: string;
  version: string | null;
  health: HealthReport | null;
  /** Why the release did not stay live. */
  failure?: string;
  /** ERROR lines since the deploy began (untrusted text, redacted and bounded). */
  errorLogs?: LogEventOut[];
  errorLogsNote?: string;
  uploaded: boolean;
}

/**
 * The release steps of deploy_lambda, run inside the guard (lock and record are held):
 * keep a way back → upload → switch → verify → publish → alias → health gate, and on any
 * failure after the switch, put the previous code back before reporting.
 */
export async function releaseLambda(
  deps: LambdaReleaseDeps,
  plan: LambdaDeployPlan,
  pkg: LambdaPackage,
  release: ReleaseHandle,
): Promise<MutationOutcome<LambdaReleaseResult>> {
  const { lambda, s3, signal } = deps;
  const fn = plan.functionName;
  const startedMs = deps.now().getTime();
  const timings: Record<string, number> = {};
  const timed = async <T>(step: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      timings[step] = Math.round(performance.now() - t0);
    }
  };
  const before = { version: plan.fromVersion, codeSha256: plan.fromCodeSha256 };
  const artifacts = {
    bucket: plan.artifactBucket,
    artifactKey: plan.artifactKey,
    codeSha256: pkg.codeSha256,
    codeSha256Hex: pkg.sha256Hex,
    bytes: pkg.bytes,
  };
  await release.update({ artifacts, before, manifest: manifestOf(pkg) });

  const rollback = plan.rollback;
  if (rollback?.mode === "artifact" && rollback.saveFromLambda) {
    deps.progress("Saving the live code as the rollback artifact");
    await timed("savePreviousMs", () =>
      savePreviousCode({
        lambda,
        s3,
        functionName: fn,
        bucket: plan.artifactBucket,
        key: rollback.artifactKey,
        codeSha256: plan.fromCodeSha256,
        signal,
      }),
    );
  }

  let uploaded = false;
  if (await artifactExists(s3, plan.artifactBucket, plan.artifactKey)) {
    deps.progress(`Artifact s3://${plan.artifactBucket}/${plan.artifactKey} already exists; not uploading`);
  } else {
    await timed("uploadMs", () =>
      uploadArtifact({
        s3,
        bucket: plan.artifactBucket,
        key: plan.artifactKey,
        file: pkg.path,
        bytes: pkg.bytes,
        sha256Hex: pkg.sha256Hex,
        signal,
        onProgress: deps.progress,
      }),
    );
    uploaded = true;
  }
  // Safety: the last point where cancelling leaves everything as it was.
  throwIfAborted(signal);

  const gitSha = release.gitSha ?? "unknown";
  let version: string | null = null;
  let health: HealthReport | null = null;
  try {
    deps.progress(`Updating ${fn} from s3://${plan.artifactBucket}/${plan.artifactKey}`);
    await timed("updateCodeMs", () =>
      updateCodeFromS3({
        lambda,
        functionName: fn,
        bucket: plan.artifactBucket,
        key: plan.artifactKey,
        expectedCodeSha256: pkg.codeSha256,
        signal,
        onProgress: deps.progress,
        ...(deps.conflictRetryMinMs !== undefined ? { conflictRetryMinMs: deps.conflictRetryMinMs } : {}),
      }),
    );
    deps.progress("Publishing a version");
    version = await timed("publishMs", () =>
      publishVersion(lambda, fn, pkg.codeSha256, `deploy_lambda release ${release.releaseId} git ${gitSha}`),
    );
    if (plan.alias) {
      deps.progress(`Moving alias ${plan.alias} to version ${version}`);
      await timed("aliasMs", () => moveAlias(lambda, fn, plan.alias as string, version as string));
    }
    deps.progress("Running the health gate");
    health = await timed("healthMs", () => runHealthGate(deps, fn, plan.alias ?? version ?? "$LATEST"));
  } catch (error) {
    const reason = (error as Error)?.message ?? String(error);
    const cancelled = error instanceof CancelledError || signal.aborted;
    return await restorePrevious(deps, plan, pkg, {
      reason: cancelled ? `cancelled after the switch began (${reason})` : reason,
      version,
      health,
      uploaded,
      startedMs,
      timings,
    });
  }
  if (health.verdict === "unhealthy") {
    return await restorePrevious(deps, plan, pkg, {
      reason: `health gate failed: ${failingChecks(health)}`,
      version,
      health,
      uploaded,
      startedMs,
      timings,
    });
  }
  return {
    status: "succeeded",
    result: {
      status: "deployed",
      codeSha256: pkg.codeSha256,
      previousVersion: plan.fromVersion,
      version,
      health,
      uploaded,
    },
    record: { after: { version, codeSha256: pkg.codeSha256 }, health, timings },
  };
}

/** The env's health targets plus the function's own state, as one verdict. */
export async function runHealthGate(
  deps: Pick<
    LambdaReleaseDeps,
    "env" | "lambda" | "signal" | "progress" | "healthAttempts" | "healthIntervalMs"
  >,
  functionName: string,
  qualifier: string,
): Promise<HealthReport> {
  return checkHealth({
    targets: deps.env.health,
    attempts: deps.healthAttempts ?? 3,
    intervalMs: deps.healthIntervalMs ?? 1000,
    signal: deps.signal,
    lambda: { client: deps.lambda, functionName, qualifier },
    onProgress: (message) => deps.progress(`Health: ${message}`),
  });
}

/** The checks that failed, in one line (names and status only: bodies are untrusted). */
export function failingChecks(health: HealthReport): string {
  const parts = health.targets
    .filter((t) => !t.ok)
    .map((t) => `${t.name} ${t.status === null ? "no answer" : `HTTP ${t.status}`}`);
  if (health.lambda && (health.lambda.state === "Failed" || health.lambda.lastUpdateStatus === "Failed"))
    parts.push(`lambda state ${health.lambda.state}/${health.lambda.lastUpdateStatus}`);
  return parts.length ? parts.join(", ") : health.verdict;
}

interface RestoreContext {
  reason: string;
  version: string | null;
  health: HealthReport | null;
  uploaded: boolean;
  startedMs: number;
  timings: Record<string, number>;
}

/**
 * Puts the previous release back: the alias to its old version, or (no alias) the previous
 * artifact into $LATEST with the same hash check. If that fails too, the error says exactly
 * what is live and how to fix it by hand.
 */
async function restorePrevious(
  deps: LambdaReleaseDeps,
  plan: LambdaDeployPlan,
  pkg: LambdaPackage,
  context: RestoreContext,
): Promise<MutationOutcome<LambdaReleaseResult>> {
  const { lambda } = deps;
  const fn = plan.functionName;
  const rollback = plan.rollback;
  deps.progress(`Release failed (${context.reason}); restoring version ${plan.fromVersion}`);
  try {
    if (rollback?.mode === "alias") {
      await moveAlias(lambda, fn, plan.alias as string, rollback.version);
    } else if (rollback?.mode === "artifact") {
      await updateCodeFromS3({
        lambda,
        functionName: fn,
        bucket: plan.artifactBucket,
        key: rollback.artifactKey,
        expectedCodeSha256: plan.fromCodeSha256,
        // Safety: no abort signal — a restore must run to the end even when the caller cancelled.
        signal: undefined,
        onProgress: deps.progress,
        ...(deps.conflictRetryMinMs !== undefined ? { conflictRetryMinMs: deps.conflictRetryMinMs } : {}),
      });
    }
  } catch (error) {
    throw new DeployError(
      "TOOL_FAILED",
      `The release failed (${context.reason}) and the automatic rollback failed too: ${(error as Error).message}. ${fn} may now run the new code ${pkg.codeSha256}${context.version ? ` (version ${context.version})` : ""}. Roll back by hand: rollback with env and component "lambda", or point ${plan.alias ? `alias ${plan.alias} at version ${plan.fromVersion}` : `the function at s3://${plan.artifactBucket}/${rollback?.mode === "artifact" ? rollback.artifactKey : "(previous artifact)"}`}.`,
      { cause: error },
    );
  }
  const logs = await errorLogsSince(deps, context.startedMs);
  return {
    status: "rolled_back",
    result: {
      status: "rolled_back",
      codeSha256: pkg.codeSha256,
      previousVersion: plan.fromVersion,
      version: context.version,
      health: context.health,
      failure: context.reason,
      uploaded: context.uploaded,
      ...logs,
    },
    record: {
      after: { version: plan.fromVersion, codeSha256: plan.fromCodeSha256, failedVersion: context.version },
      ...(context.health ? { health: context.health } : {}),
      timings: context.timings,
      error: context.reason,
    },
  };
}

/** ERROR lines since the deploy began; a missing log group or logs permission never fails the deploy. */
async function errorLogsSince(
  deps: LambdaReleaseDeps,
  startMs: number,
): Promise<{ errorLogs?: LogEventOut[]; errorLogsNote?: string }> {
  if (!deps.logs) return {};
  try {
    const logGroup = await resolveLogGroup(deps.env, deps.lambda);
    const result = await queryLogs({
      logs: await deps.logs(),
      logGroup,
      startMs: startMs - 1000,
      level: "ERROR",
      limit: 20,
    });
    return { errorLogs: result.events };
  } catch (error) {
    return { errorLogsNote: `Error logs could not be read: ${(error as Error).message}` };
  }
}
