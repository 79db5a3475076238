import type { LambdaClient } from "@aws-sdk/client-lambda";
import type { S3Client } from "@aws-sdk/client-s3";
import { DeployError } from "../../core/errors.js";
import type { HealthReport } from "../../observe/health.js";
import type { ToolContext } from "../../release/context.js";
import { isReleaseId, listReleaseRecords, loadReleaseRecord } from "../../release/records.js";
import { runGuardedMutation } from "../../release/run-release.js";
import type { ReleaseRecord } from "../../release/types.js";
import type { RollbackOutput, RollbackRequest } from "../rollback-types.js";
import { artifactExists, artifactKeyForCodeSha256 } from "./artifact.js";
import {
  type LiveLambdaCode,
  moveAlias,
  publishVersion,
  readLiveCode,
  readVersionCodeSha256,
  updateCodeFromS3,
} from "./code.js";
import { failingChecks, runHealthGate } from "./release.js";

/** What a rollback restores. */
export interface LambdaRollbackTarget {
  /** Release whose code is restored, when known. */
  releaseId: string | null;
  /** Published version holding that code, when known. */
  version: string | null;
  codeSha256: string;
  artifactKey: string;
  manifest?: Record<string, unknown>;
}

/** Canonical, timestamp-free: the digest a confirmation token confirms. */
export interface LambdaRollbackPlan {
  component: "lambda";
  action: "rollback";
  functionName: string;
  alias: string | null;
  mode: "alias" | "artifact";
  fromVersion: string;
  fromCodeSha256: string;
  toReleaseId: string | null;
  toVersion: string | null;
  toCodeSha256: string;
  artifactKey: string | null;
}

const VERSION_ARG = /^(?:v|version\s*)?(\d+)$/i;

interface AfterFacts {
  version?: unknown;
  codeSha256?: unknown;
}

function afterOf(record: ReleaseRecord): { version: string | null; codeSha256: string | null } {
  const after = record.after as AfterFacts;
  return {
    version: typeof after.version === "string" ? after.version : null,
    codeSha256: typeof after.codeSha256 === "string" && after.codeSha256 ? after.codeSha256 : null,
  };
}

/** The key the release itself recorded (it survives a later change of artifactPrefix). */
function recordedArtifactKey(record: ReleaseRecord, codeSha256: string): string | null {
  const artifacts = record.artifacts as { artifactKey?: unknown; codeSha256?: unknown };
  return typeof artifacts.artifactKey === "string" && artifacts.codeSha256 === codeSha256
    ? artifacts.artifactKey
    : null;
}

/**
 * Where `to` (a release id, a version number, or nothing = the newest successful release
 * whose code differs from what is live) points.
 */
export async function resolveRollbackTarget(input: {
  lambda: LambdaClient;
  s3: S3Client;
  ctx: Pick<ToolContext, "env" | "envName">;
  live: LiveLambdaCode;
  records: ReleaseRecord[];
  to: string | undefined;
}): Promise<LambdaRollbackTarget> {
  const { ctx, live, records, to } = input;
  const { artifactBucket, artifactPrefix, functionName } = ctx.env.lambda;
  const fromRecord = (record: ReleaseRecord): LambdaRollbackTarget => {
    const after = afterOf(record);
    if (record.status !== "succeeded" || !after.codeSha256) {
      throw new DeployError(
        "PRECONDITION",
        `Release ${record.releaseId} ended "${record.status}" and never served traffic; pick a successful release (deploy_status lists them).`,
      );
    }
    return {
      releaseId: record.releaseId,
      version: after.version && after.version !== "$LATEST" ? after.version : null,
      codeSha256: after.codeSha256,
      artifactKey:
        recordedArtifactKey(record, after.codeSha256) ??
        artifactKeyForCodeSha256(artifactPrefix, after.codeSha256),
      ...(record.manifest ? { manifest: record.manifest } : {}),
    };
  };

  if (to === undefined) {
    const previous = records.find((r) => {
      const after = afterOf(r);
      return r.status === "succeeded" && after.codeSha256 !== null && after.codeSha256 !== live.codeSha256;
    });
    if (!previous) {
      throw new DeployError(
        "PRECONDITION",
        `No earlier successful Lambda release of "${ctx.envName}" with other code than what is live (${live.codeSha256}) is recorded in s3://${artifactBucket}/releases/${ctx.envName}/lambda/. Pass "to" with a version number to roll back to a version deployed outside this tool.`,
      );
    }
    return fromRecord(previous);
  }
  if (isReleaseId(to)) {
    const record =
      records.find((r) => r.releaseId === to) ??
      (await loadReleaseRecord(input.s3, artifactBucket, ctx.envName, "lambda", to));
    if (!record) {
      throw new DeployError(
        "AWS_NOT_FOUND",
        `Release ${to} is not recorded for the Lambda of "${ctx.envName}". Use deploy_status to list releases.`,
      );
    }
    return fromRecord(record);
  }
  const versionMatch = VERSION_ARG.exec(to.trim());
  if (versionMatch) {
    const version = versionMatch[1] as string;
    const codeSha256 = await readVersionCodeSha256(input.lambda, functionName, version);
    const record = records.find((r) => r.status === "succeeded" && afterOf(r).version === version);
    return {
      releaseId: record?.releaseId ?? null,
      version,
      codeSha256,
      artifactKey: artifactKeyForCodeSha256(artifactPrefix, codeSha256),
      ...(record?.manifest ? { manifest: record.manifest } : {}),
    };
  }
  throw new DeployError(
    "INPUT_INVALID",
    `"to" must be a release id (e.g. 20261125T130512345Z-3fa9c1) or a Lambda version number (e.g. 12); got "${to}".`,
  );
}

/** Test knobs; the tool uses the defaults. */
export interface RollbackTuning {
  healthAttempts?: number;
  healthIntervalMs?: number;
}

/**
 * rollback for the Lambda: an alias move when an alias is configured (instant), otherwise the
 * target's artifact into $LATEST with the same hash check as a deploy, then a health check.
 */
export async function rollbackLambda(
  ctx: ToolContext,
  request: RollbackRequest,
  tuning: RollbackTuning = {},
): Promise<RollbackOutput> {
  const [lambda, s3] = await Promise.all([ctx.aws.lambda(), ctx.aws.s3()]);
  const { functionName, alias, artifactBucket } = ctx.env.lambda;
  const [live, records] = await Promise.all([
    readLiveCode(lambda, functionName, alias),
    listReleaseRecords(s3, artifactBucket, ctx.envName, "lambda", { limit: 50 }),
  ]);
  const target = await resolveRollbackTarget({ lambda, s3, ctx, live, records, to: request.to });
  const liveRecord = records.find(
    (r) => r.status === "succeeded" && afterOf(r).codeSha256 === live.codeSha256,
  );
  const from = liveRecord ? `${liveRecord.releaseId} (version ${live.version})` : `version ${live.version}`;
  const to = describeTarget(target);

  const sameCode = target.codeSha256 === live.codeSha256;
  if (sameCode && (!alias || target.version === null || target.version === live.version)) {
    return {
      summary: `Nothing to roll back: ${to} is what ${functionName}${alias ? `:${alias}` : ""} serves already.`,
      status: "unchanged",
      from,
      to,
    };
  }
  if (alias && !target.version) {
    throw new DeployError(
      "PRECONDITION",
      `Alias ${alias} can only point at a published version, and ${to} has none recorded. Pass "to" with a version number.`,
    );
  }
  const mode = alias ? "alias" : "artifact";
  if (mode === "artifact" && !(await artifactExists(s3, artifactBucket, target.artifactKey))) {
    throw new DeployError(
      "PRECONDITION",
      `The artifact of ${to} (s3://${artifactBucket}/${target.artifactKey}) is missing, so its code cannot be put back. Restore that object, or pick another release. Nothing was changed.`,
    );
  }
  const plan: LambdaRollbackPlan = {
    component: "lambda",
    action: "rollback",
    functionName,
    alias,
    mode,
    fromVersion: live.version,
    fromCodeSha256: live.codeSha256,
    toReleaseId: target.releaseId,
    toVersion: target.version,
    toCodeSha256: target.codeSha256,
    artifactKey: mode === "artifact" ? target.artifactKey : null,
  };
  const planSummary =
    mode === "alias"
      ? `Move alias ${alias} of ${functionName} from version ${live.version} to ${to}, then check health.`
      : `Put the code of ${to} (s3://${artifactBucket}/${target.artifactKey}) back into ${functionName}, verify its CodeSha256 ${target.codeSha256}, publish a version, then check health.`;
  const shownPlan = plan as unknown as Record<string, unknown>;
  if (request.dryRun) {
    return { summary: `Dry run: ${planSummary}`, status: "planned", from, to, plan: shownPlan };
  }

  const guarded = await runGuardedMutation(
    {
      ctx,
      component: "lambda",
      plan,
      planSummary,
      confirmationToken: request.confirmationToken,
      breakLock: request.breakLock,
      // Safety: a rollback restores code that already passed; demanding fresh tests would slow the way back.
      requirePreflight: false,
    },
    async (release) => {
      await release.update({
        before: { version: live.version, codeSha256: live.codeSha256 },
        artifacts: { artifactKey: target.artifactKey, codeSha256: target.codeSha256 },
        restoredFrom: target.releaseId ?? `version ${target.version}`,
      });
      let version: string;
      if (mode === "alias") {
        ctx.progress(`Moving alias ${alias} to version ${target.version}`);
        version = target.version as string;
        await moveAlias(lambda, functionName, alias as string, version);
      } else {
        ctx.progress(`Restoring ${to} into ${functionName}`);
        await updateCodeFromS3({
          lambda,
          functionName,
          bucket: artifactBucket,
          key: target.artifactKey,
          expectedCodeSha256: target.codeSha256,
          signal: ctx.signal,
          onProgress: (m) => ctx.progress(m),
        });
        version = await publishVersion(
          lambda,
          functionName,
          target.codeSha256,
          `rollback release ${release.releaseId} to ${to} git ${release.gitSha ?? "unknown"}`,
        );
      }
      ctx.progress("Checking health after the rollback");
      const health = await runHealthGate(
        { env: ctx.env, lambda, signal: ctx.signal, progress: ctx.progress, ...tuning },
        functionName,
        alias ?? version,
      );
      return {
        status: "succeeded" as const,
        result: { version, health },
        record: {
          after: { version, codeSha256: target.codeSha256 },
          health,
          ...(target.manifest ? { manifest: target.manifest } : {}),
        },
      };
    },
  );
  if (guarded.kind === "confirmation_required") {
    return {
      summary: `Confirmation required for ${ctx.envName}: ${planSummary} Show this to the user; if they agree, call rollback again with the confirmationToken (valid until ${guarded.expiresAt}).`,
      status: "confirmation_required",
      from,
      to,
      plan: shownPlan,
      confirmationToken: guarded.confirmationToken,
      expiresAt: guarded.expiresAt,
    };
  }
  const { version, health } = guarded.result;
  return {
    summary: `Rolled ${functionName}${alias ? `:${alias}` : ""} back from ${from} to ${to}, now version ${version} (release ${guarded.releaseId}); health ${healthWord(health)}.`,
    status: "rolled_back",
    from,
    to,
    releaseId: guarded.releaseId,
    plan: shownPlan,
    health: health as unknown as Record<string, unknown>,
  };
}

function describeTarget(target: LambdaRollbackTarget): string {
  if (target.releaseId)
    return `release ${target.releaseId}${target.version ? ` (version ${target.version})` : ""}`;
  return `version ${target.version}`;
}

function healthWord(health: HealthReport): string {
  if (health.verdict === "healthy") return "healthy";
  return `${health.verdict} (${failingChecks(health)}): look at tail_logs before doing anything else`;
}
