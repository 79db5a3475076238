import type { LambdaClient } from "@aws-sdk/client-lambda";
import type { S3Client } from "@aws-sdk/client-s3";
import type * as z from "zod";
import { DeployError } from "../../core/errors.js";
import type { HealthReport } from "../../observe/health.js";
import { isReleaseId, listReleaseRecords, loadReleaseRecord } from "../../release/records.js";
import type { ReleaseSpec, ReleaseStep } from "../../release/spec.js";
import type { ReleaseRecord } from "../../release/types.js";
import { artifactExists, artifactKeyForCodeSha256 } from "./artifact.js";
import {
  type LiveLambdaCode,
  moveAlias,
  publishVersion,
  readLiveCode,
  readVersionCodeSha256,
  updateCodeFromS3,
} from "./code.js";
import type { LambdaDeps } from "./deps.js";
import { type LambdaRecoveryFacts, recoveryPlanText } from "./facts.js";
import { codeSha256ToHex } from "./package.js";
import type { lambdaRollbackPlanSchema } from "./plan-schema.js";
import { runHealthGate } from "./release.js";
import { restoreCommand, restorePreviousCode } from "./undo.js";

/** What a rollback restores. */
export interface LambdaRollbackTarget {
  /** Release whose code is restored, when known. */
  releaseId: string | null;
  /** Published version holding that code, when known. */
  version: string | null;
  codeSha256: string;
  artifactKey: string;
  manifest?: Record<string, unknown>;
  /**
   * Set when the target is the state live before this release (the way back from a first
   * release, whose previous code no release of this tool made).
   */
  liveBefore?: string;
}

export type LambdaRollbackPlan = z.infer<typeof lambdaRollbackPlanSchema>;

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

function beforeOf(record: ReleaseRecord): {
  version: string | null;
  codeSha256: string | null;
  artifactKey: string | null;
} {
  const before = record.before as { version?: unknown; codeSha256?: unknown; artifactKey?: unknown };
  return {
    version: typeof before.version === "string" && before.version ? before.version : null,
    codeSha256: typeof before.codeSha256 === "string" && before.codeSha256 ? before.codeSha256 : null,
    artifactKey: typeof before.artifactKey === "string" && before.artifactKey ? before.artifactKey : null,
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
 * whose code differs from what is live, else the code live before the newest release whose
 * `before` differs from what is live: the way back from a first release) points.
 */
export async function resolveRollbackTarget(input: {
  lambda: LambdaClient;
  s3: S3Client;
  ctx: Pick<LambdaDeps, "env" | "envName">;
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

  const fromBefore = async (record: ReleaseRecord): Promise<LambdaRollbackTarget> => {
    const before = beforeOf(record);
    const codeSha256 = before.codeSha256 as string;
    const published =
      ctx.env.lambda.alias && before.version && /^\d+$/.test(before.version) ? before.version : null;
    // Safety: only a content address of that very code is taken from the record.
    const recorded = before.artifactKey?.endsWith(`${codeSha256ToHex(codeSha256)}.zip`)
      ? before.artifactKey
      : null;
    return {
      releaseId: null,
      version: published,
      // The version's own code is the truth (a record is only as good as who wrote it).
      codeSha256: published ? await readVersionCodeSha256(input.lambda, functionName, published) : codeSha256,
      artifactKey: recorded ?? artifactKeyForCodeSha256(artifactPrefix, codeSha256),
      liveBefore: record.releaseId,
    };
  };

  if (to === undefined) {
    const previous = records.find((r) => {
      const after = afterOf(r);
      return r.status === "succeeded" && after.codeSha256 !== null && after.codeSha256 !== live.codeSha256;
    });
    if (previous) return fromRecord(previous);
    // No release of this tool made other code live: the way back is what was live before one
    // (the first release's previous code, or what a failed release replaced).
    const before = records.find((r) => {
      const state = beforeOf(r);
      return r.status !== "in_progress" && state.codeSha256 !== null && state.codeSha256 !== live.codeSha256;
    });
    if (!before) {
      throw new DeployError(
        "PRECONDITION",
        `No earlier Lambda release of "${ctx.envName}", nor the code live before one, differs from what is live (${live.codeSha256}); releases are recorded in s3://${artifactBucket}/releases/${ctx.envName}/lambda/. Pass "to" with a version number to roll back to a version deployed outside this tool.`,
      );
    }
    return await fromBefore(before);
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

export interface LambdaRollbackRequest {
  to?: string | undefined;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

export interface LambdaRollbackState {
  version: string | null;
  health: HealthReport | null;
}

export type LambdaRollbackSpec = ReleaseSpec<LambdaRollbackPlan, LambdaRollbackState, LiveLambdaCode>;

export interface PreparedLambdaRollback {
  /** What was live: a release id and version, or "version N". */
  from: string;
  /** What the rollback restores. */
  to: string;
  plan: LambdaRollbackPlan | null;
  planText: string;
  /** Null when the target already serves. */
  spec: LambdaRollbackSpec | null;
}

/**
 * rollback for the Lambda up to the release: an alias move when an alias is configured
 * (instant), otherwise the target's artifact into $LATEST with the same hash check as a
 * deploy; then a health check. The undo puts back what served before the rollback.
 */
export async function prepareLambdaRollback(
  deps: LambdaDeps,
  request: LambdaRollbackRequest,
): Promise<PreparedLambdaRollback> {
  const { lambda, s3 } = deps;
  const { functionName, alias, artifactBucket, artifactPrefix } = deps.env.lambda;
  const [live, records] = await Promise.all([
    readLiveCode(lambda, functionName, alias),
    listReleaseRecords(s3, artifactBucket, deps.envName, "lambda", { limit: 50 }),
  ]);
  const target = await resolveRollbackTarget({ lambda, s3, ctx: deps, live, records, to: request.to });
  const liveRecord = records.find(
    (r) => r.status === "succeeded" && afterOf(r).codeSha256 === live.codeSha256,
  );
  const liveText = alias ? `version ${live.version}` : `$LATEST, CodeSha256 ${live.codeSha256}`;
  const from = liveRecord
    ? `${liveRecord.releaseId} (${liveText})`
    : alias
      ? liveText
      : `$LATEST (CodeSha256 ${live.codeSha256})`;
  const to = describeTarget(target);

  const sameCode = target.codeSha256 === live.codeSha256;
  if (sameCode && (!alias || target.version === null || target.version === live.version)) {
    return { from, to, plan: null, planText: "", spec: null };
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
      target.liveBefore
        ? `${capitalise(to)} was never saved: s3://${artifactBucket}/${target.artifactKey} is missing (release ${target.liveBefore} could not download it from Lambda; its record's warnings say why), so it cannot be put back. Store a zip of that code at that key, or pass "to" with a release id or a version number whose code is saved. Nothing was changed.`
        : `The artifact of ${to} (s3://${artifactBucket}/${target.artifactKey}) is missing, so its code cannot be put back. Restore that object, or pick another release. Nothing was changed.`,
      {
        detail: {
          missingArtifact: `s3://${artifactBucket}/${target.artifactKey}`,
          codeSha256: target.codeSha256,
        },
      },
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
    toLiveBefore: target.liveBefore ?? null,
    toVersion: target.version,
    toCodeSha256: target.codeSha256,
    artifactKey: mode === "artifact" ? target.artifactKey : null,
  };
  const planText =
    mode === "alias"
      ? `Move alias ${alias} of ${functionName} from version ${live.version} to ${to}, then check health.`
      : `Put the code of ${to} (s3://${artifactBucket}/${target.artifactKey}) back into ${functionName}, verify its CodeSha256 ${target.codeSha256}, publish a version, then check health.`;
  const previousArtifact = artifactKeyForCodeSha256(artifactPrefix, live.codeSha256);
  const facts: LambdaRecoveryFacts = {
    functionName,
    alias,
    bucket: artifactBucket,
    previous: {
      version: live.version,
      codeSha256: live.codeSha256,
      artifactKey:
        mode === "artifact" && (await artifactExists(s3, artifactBucket, previousArtifact))
          ? previousArtifact
          : null,
    },
    next: { codeSha256: target.codeSha256, artifactKey: plan.artifactKey, version: target.version },
  };
  const spec = rollbackSpec(deps, { plan, target, facts, to, request, approvalText: planText });
  return { from, to, plan, planText, spec };
}

function rollbackSpec(
  deps: LambdaDeps,
  input: {
    plan: LambdaRollbackPlan;
    target: LambdaRollbackTarget;
    facts: LambdaRecoveryFacts;
    to: string;
    request: LambdaRollbackRequest;
    approvalText: string;
  },
): LambdaRollbackSpec {
  const { plan, target, facts } = input;
  const { functionName, alias } = plan;
  const state: LambdaRollbackState = { version: null, health: null };
  const steps: Array<ReleaseStep<LambdaRollbackState>> =
    plan.mode === "alias"
      ? [
          {
            name: "move-alias",
            phase: "switching",
            touchesLive: true,
            async run(s, io) {
              io.progress(`Moving alias ${alias} to version ${target.version}`);
              await moveAlias(
                deps.lambda,
                functionName,
                alias as string,
                target.version as string,
                io.signal,
              );
              s.version = target.version;
            },
          },
        ]
      : [
          {
            name: "update-code",
            phase: "switching",
            touchesLive: true,
            run: (_s, io) =>
              updateCodeFromS3({
                lambda: deps.lambda,
                functionName,
                bucket: deps.env.lambda.artifactBucket,
                key: target.artifactKey,
                expectedCodeSha256: target.codeSha256,
                signal: io.signal,
                onProgress: io.progress,
                ...(deps.conflictRetryMinMs !== undefined
                  ? { conflictRetryMinMs: deps.conflictRetryMinMs }
                  : {}),
              }),
          },
          {
            name: "publish-version",
            phase: "switching",
            async run(s, io) {
              s.version = await publishVersion(
                deps.lambda,
                functionName,
                target.codeSha256,
                `rollback release ${io.releaseId} to ${input.to} git ${io.gitSha ?? "unknown"}`,
                io.signal,
              );
            },
          },
        ];
  return {
    component: "lambda",
    plan,
    approvalText: input.approvalText,
    // Safety: a rollback restores code that already passed; demanding fresh tests would slow the way back.
    requirePreflight: false,
    confirmationToken: input.request.confirmationToken,
    breakLock: input.request.breakLock,
    state,
    record: {
      before: { version: plan.fromVersion, codeSha256: plan.fromCodeSha256 },
      artifacts: { artifactKey: target.artifactKey, codeSha256: target.codeSha256 },
      restoredFrom:
        target.releaseId ?? (target.liveBefore ? `before ${target.liveBefore}` : `version ${target.version}`),
      ...(target.manifest ? { manifest: target.manifest } : {}),
      recoveryFacts: facts,
    },
    recoveryPlan: (phase) => recoveryPlanText(facts, phase),
    steps,
    verify: {
      name: "health-check",
      async run(s, io) {
        s.health = await runHealthGate(
          { ...deps, signal: io.signal, progress: io.progress },
          functionName,
          alias ?? s.version ?? "$LATEST",
        );
        // The way back is not undone by its own health check: what served before was worse or
        // the person chose this; the verdict is reported and the tail_logs hint given.
        return { ok: true, report: s.health };
      },
    },
    undo: {
      name: alias ? `move alias ${alias} back` : "restore the code live before the rollback",
      run: (_s, io) => restorePreviousCode({ ...deps, progress: io.progress }, facts, io.signal),
      fixCommand: () => restoreCommand(facts, deps.env.region),
    },
    readLive: () => readLiveCode(deps.lambda, functionName, alias),
    recordLive: (live, s, status) => ({
      after: {
        version: status === "succeeded" && s.version ? s.version : live.version,
        codeSha256: live.codeSha256,
      },
    }),
  };
}

function describeTarget(target: LambdaRollbackTarget): string {
  if (target.releaseId)
    return `release ${target.releaseId}${target.version ? ` (version ${target.version})` : ""}`;
  if (target.liveBefore) {
    return target.version
      ? `version ${target.version}, live before release ${target.liveBefore}`
      : `the code live before release ${target.liveBefore} (CodeSha256 ${target.codeSha256})`;
  }
  return `version ${target.version}`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
