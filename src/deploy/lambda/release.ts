import type { CanaryEvidence } from "../../observe/canary-schema.js";
import { checkHealth, type HealthReport } from "../../observe/health.js";
import { resolveLogGroup } from "../../observe/log-group.js";
import { type LogEventOut, queryLogs } from "../../observe/logs.js";
import type { ReleaseSpec, ReleaseStep, StepIo } from "../../release/spec.js";
import { savePreviousCode } from "./artifact.js";
import { bakeCanary, type CanarySettings } from "./canary.js";
import {
  type LiveLambdaRouting,
  moveAlias,
  publishVersion,
  readLiveRouting,
  splitAlias,
  updateCodeFromS3,
} from "./code.js";
import type { LambdaDeps } from "./deps.js";
import { type LambdaRecoveryFacts, recoveryPlanText } from "./facts.js";
import type { LambdaPackage } from "./package.js";
import { type ArtifactPlacement, artifactPlacement } from "./placement.js";
import { type LambdaDeployPlan, manifestOf } from "./plan.js";
import type { StagedUpload } from "./staged-upload.js";
import { restoreCommand, restorePreviousCode } from "./undo.js";

/** What the steps of a Lambda deploy learn as they go. */
export interface LambdaDeployState {
  /** The version published from the new code. */
  version: string | null;
  health: HealthReport | null;
  /**
   * Set when the code live before could not be kept ($LATEST mode, no artifact, download
   * impossible): why; a rollback or undo then has no way back to it.
   */
  noWayBack: string | null;
  /** Strategy canary: the figures as last recorded (null before the bake starts). */
  canary: CanaryEvidence | null;
}

export type LambdaDeploySpec = ReleaseSpec<LambdaDeployPlan, LambdaDeployState, LiveLambdaRouting>;

export interface LambdaSpecInput {
  plan: LambdaDeployPlan;
  pkg: LambdaPackage;
  confirmationToken?: string | undefined;
  breakLock: boolean;
  approvalText: string;
  /** Strategy canary (alias mode): the plan's canary plus the check pace. */
  canary?: CanarySettings | undefined;
  /** The package's upload begun while it was zipped: the upload step copies it into place. */
  staged?: StagedUpload | null | undefined;
  replan?: () => Promise<LambdaDeploySpec | null>;
}

function lambdaFactsOf(plan: LambdaDeployPlan): LambdaRecoveryFacts {
  return {
    ...(plan.canary && plan.alias
      ? { canary: { percent: plan.canary.percent, bakeMinutes: plan.canary.bakeMinutes } }
      : {}),
    functionName: plan.functionName,
    alias: plan.alias,
    bucket: plan.artifactBucket,
    previous: {
      version: plan.fromVersion,
      codeSha256: plan.fromCodeSha256,
      // A key whose object is still to be saved is recorded once the save-previous-code step kept it.
      artifactKey: previousArtifactKey(plan),
    },
    next: { codeSha256: plan.codeSha256, artifactKey: plan.artifactKey, version: null },
  };
}

function previousArtifactKey(plan: LambdaDeployPlan): string | null {
  return plan.rollback?.mode === "artifact" && !plan.rollback.saveFromLambda
    ? plan.rollback.artifactKey
    : null;
}

/**
 * The warning of a $LATEST deploy without a saved copy of the code it replaces: at plan time
 * (`"plan"`, before the person approves) or once the release found it could not keep it.
 */
export function noWayBackWarning(
  plan: LambdaDeployPlan,
  artifactKey: string,
  reason: string,
  when: "plan" | "release",
): string {
  const where = `s3://${plan.artifactBucket}/${artifactKey}`;
  const remedy =
    "Store a zip of that code at that key if you have one, or configure lambda.alias so the way back is a published version.";
  return when === "plan"
    ? `The code live now (CodeSha256 ${plan.fromCodeSha256}) cannot be saved at ${where} before it is replaced: ${reason}. After this deploy neither a rollback nor the automatic undo could put it back. ${remedy}`
    : `The code live before this deploy (CodeSha256 ${plan.fromCodeSha256}) was not saved at ${where}: ${reason}. Neither a rollback nor the automatic undo can put it back. ${remedy}`;
}

/**
 * deploy_lambda as a release: keep a way back → upload → switch (code, version, alias) →
 * health gate; the undo puts the previous code back. A canary switches in two moves: a share
 * of the alias to the new version, a bake that watches it, then the whole alias (or, when the
 * bake fails or is cancelled, the undo removes the share). A plan without a change (unchanged
 * code) has no steps: the flow then only settles interrupted releases.
 */
export function lambdaDeploySpec(deps: LambdaDeps, input: LambdaSpecInput): LambdaDeploySpec {
  const { plan, pkg } = input;
  const fn = plan.functionName;
  const facts = lambdaFactsOf(plan);
  const state: LambdaDeployState = { version: null, health: null, noWayBack: null, canary: null };
  const canary = plan.alias && plan.canary && input.canary ? input.canary : null;
  const changes = plan.rollback !== null;
  const placement = artifactPlacement(deps, plan, pkg, input.staged ?? null);
  return {
    component: "lambda",
    plan,
    approvalText: input.approvalText,
    requirePreflight: true,
    // Safety: the tests-first gate compares this with the tree the passing preflight tested.
    treeDigest: plan.treeDigest,
    confirmationToken: input.confirmationToken,
    breakLock: input.breakLock,
    state,
    record: {
      artifacts: {
        bucket: plan.artifactBucket,
        artifactKey: plan.artifactKey,
        codeSha256: pkg.codeSha256,
        codeSha256Hex: pkg.sha256Hex,
        bytes: pkg.bytes,
      },
      // Rollback reads `before` to find the code live before this release (the first release's way back).
      before: {
        version: plan.fromVersion,
        codeSha256: plan.fromCodeSha256,
        ...(plan.alias ? {} : { artifactKey: previousArtifactKey(plan) }),
      },
      // The manifest (2,000+ entries, ~300 KB for a large backend) goes out with the final
      // record only, as the frontend's does: every journal write before it would carry it
      // again, on the release's critical path. Plans compare with succeeded records' alone.
      recoveryFacts: facts,
    },
    recoveryPlan: (phase) => recoveryPlanText(facts, phase),
    // Recovery reads what the function runs whatever the phase after the switch (recover.ts):
    // the gate's phase needs no write of its own, and goes out with the final record.
    phasesRecordedLate: ["verifying", "finishing"],
    ...(input.replan ? { replan: input.replan } : {}),
    steps: changes ? deploySteps(deps, plan, pkg, facts, canary, placement) : [],
    ...(changes
      ? {
          verify: {
            name: "health-gate",
            async run(s: LambdaDeployState, io: StepIo) {
              // Safety: a release also ends with its code at its content address, where a later
              // rollback ($LATEST mode) and the next deploy's way back look for it; a staged
              // package's copy there finishes while the gate runs. Stored neither by the copy
              // nor by an upload of the file, the release fails and its undo runs.
              const [health, kept] = await Promise.allSettled([
                runHealthGate({ ...deps, signal: io.signal }, fn, plan.alias ?? s.version ?? "$LATEST"),
                placement.keep(io),
              ]);
              if (health.status === "rejected") throw health.reason;
              s.health = health.value;
              // Only unhealthy rolls back: degraded (slow, flaky) is reported and stays live.
              if (s.health.verdict === "unhealthy")
                return {
                  ok: false,
                  reason: `health gate failed: ${failingChecks(s.health)}`,
                  report: s.health,
                };
              if (kept.status === "rejected")
                return {
                  ok: false,
                  reason: `the package could not be stored at s3://${plan.artifactBucket}/${plan.artifactKey}: ${(kept.reason as Error)?.message ?? String(kept.reason)}`,
                  report: s.health,
                };
              return { ok: true, report: s.health };
            },
          },
          undo: {
            name: plan.alias
              ? canary
                ? `remove the canary's share: alias ${plan.alias} back on version ${plan.fromVersion} alone`
                : `move alias ${plan.alias} back`
              : "restore the previous code",
            run: (_s: LambdaDeployState, io: StepIo) =>
              restorePreviousCode({ ...deps, progress: io.progress }, facts, io.signal),
            fixCommand: () => restoreCommand(facts, deps.env.region),
          },
        }
      : {}),
    readLive: () => readLiveRouting(deps.lambda, fn, plan.alias),
    recordLive: (live, s, status) => ({
      ...(status === "succeeded" || live.codeSha256 === pkg.codeSha256 ? { manifest: manifestOf(pkg) } : {}),
      after: {
        // Without an alias the release is known by the version published from its code.
        version: plan.alias ? live.version : status === "succeeded" && s.version ? s.version : live.version,
        codeSha256: live.codeSha256,
        ...(status !== "succeeded" && s.version ? { failedVersion: s.version } : {}),
      },
    }),
  };
}

/** The named steps of a deploy that changes code, in order. */
function deploySteps(
  deps: LambdaDeps,
  plan: LambdaDeployPlan,
  pkg: LambdaPackage,
  facts: LambdaRecoveryFacts,
  canary: CanarySettings | null,
  placement: ArtifactPlacement,
): Array<ReleaseStep<LambdaDeployState>> {
  const fn = plan.functionName;
  const steps: Array<ReleaseStep<LambdaDeployState>> = [];
  const rollback = plan.rollback;
  if (rollback?.mode === "artifact" && rollback.saveFromLambda) {
    // Safety: the way back is kept before the way forward is taken; the undo, the recovery of
    // a killed release and a later rollback all restore from this artifact.
    steps.push({
      name: "save-previous-code",
      phase: "preparing",
      async run(s, io) {
        const result = await savePreviousCode({
          lambda: deps.lambda,
          s3: deps.s3,
          functionName: fn,
          bucket: plan.artifactBucket,
          key: rollback.artifactKey,
          codeSha256: plan.fromCodeSha256,
          signal: io.signal,
          download: deps.downloadCode,
          onProgress: io.progress,
        });
        if (result.saved) {
          facts.previous.artifactKey = rollback.artifactKey;
          io.note({ recoveryFacts: { ...facts }, before: { artifactKey: rollback.artifactKey } });
          return;
        }
        // Not a reason to stop: the person was told at plan time when it could be known, and
        // the answer says it again.
        s.noWayBack = result.reason;
        io.warn(noWayBackWarning(plan, rollback.artifactKey, result.reason, "release"));
      },
    });
  }
  steps.push(
    {
      name: "upload-artifact",
      phase: "uploading",
      run: (_s, io) => placement.upload(io),
    },
    {
      name: "update-code",
      phase: "switching",
      // Without an alias, $LATEST is what serves: this step is the switch.
      touchesLive: plan.alias === null,
      run: (_s, io) =>
        updateCodeFromS3({
          lambda: deps.lambda,
          functionName: fn,
          bucket: plan.artifactBucket,
          key: placement.codeKey,
          expectedCodeSha256: pkg.codeSha256,
          signal: io.signal,
          onProgress: io.progress,
          ...(deps.conflictRetryMinMs !== undefined ? { conflictRetryMinMs: deps.conflictRetryMinMs } : {}),
        }),
    },
    {
      name: "publish-version",
      phase: "switching",
      async run(s, io) {
        io.progress("Publishing a version of the new code");
        s.version = await publishVersion(
          deps.lambda,
          fn,
          pkg.codeSha256,
          `deploy_lambda release ${io.releaseId} git ${io.gitSha ?? "unknown"}`,
          io.signal,
        );
        if (canary) {
          // Recovery then knows the canary's version from the record written before the split.
          facts.next.version = s.version;
          io.note({ after: { publishedVersion: s.version }, recoveryFacts: { ...facts } });
          return;
        }
        io.note({ after: { publishedVersion: s.version } });
      },
    },
  );
  const alias = plan.alias;
  if (alias && canary) {
    steps.push(...canarySteps(deps, plan, alias, canary));
  } else if (alias) {
    steps.push({
      name: "move-alias",
      phase: "switching",
      touchesLive: true,
      async run(s, io) {
        io.progress(`Moving alias ${alias} to version ${s.version}`);
        await moveAlias(deps.lambda, fn, alias, s.version as string, io.signal);
      },
    });
  }
  return steps;
}

/**
 * The canary's moves, alias mode: split (the record says `baking` before the share is set),
 * bake, promote. The undo of any failure from the split on removes the share.
 */
function canarySteps(
  deps: LambdaDeps,
  plan: LambdaDeployPlan,
  alias: string,
  canary: CanarySettings,
): Array<ReleaseStep<LambdaDeployState>> {
  const fn = plan.functionName;
  const stable = plan.fromVersion;
  let routedAtMs = 0;
  return [
    {
      name: "route-canary",
      phase: "baking",
      touchesLive: true,
      async run(s, io) {
        const version = s.version as string;
        io.progress(
          `Routing ${canary.percent}% of alias ${alias} to version ${version} for ${canary.bakeMinutes} min (version ${stable} keeps the rest)`,
        );
        routedAtMs = Date.now();
        await splitAlias(deps.lambda, fn, alias, stable, version, canary.percent / 100, io.signal);
      },
    },
    {
      name: "bake-canary",
      phase: "baking",
      // The bake's own length, plus room for its last log read and record write.
      deadlineMs: Math.round(canary.bakeMinutes * 60_000) + 5 * 60_000,
      async run(s, io) {
        s.canary = await bakeCanary({
          deps,
          functionName: fn,
          canaryVersion: s.version as string,
          stableVersion: stable,
          settings: canary,
          routedAtMs,
          io,
          onEvidence: (evidence) => {
            s.canary = evidence;
          },
        });
      },
    },
    {
      name: "promote-canary",
      phase: "switching",
      touchesLive: true,
      async run(s, io) {
        io.progress(`Canary passed: moving alias ${alias} to version ${s.version} alone`);
        await moveAlias(deps.lambda, fn, alias, s.version as string, io.signal);
      },
    },
  ];
}

/** The env's health targets plus the function's own state, as one verdict. */
export async function runHealthGate(
  deps: Pick<LambdaDeps, "env" | "lambda" | "signal" | "progress" | "healthAttempts" | "healthIntervalMs">,
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

/** ERROR lines since the deploy began; a missing log group or logs permission never fails the deploy. */
export async function errorLogsSince(
  deps: Pick<LambdaDeps, "logs" | "env" | "lambda">,
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
