import type { LiveLambdaCode } from "../../deploy/lambda/code.js";
import { describeTarget, failedReleaseStillLive, prepareLambdaDeploy } from "../../deploy/lambda/deploy.js";
import type { LambdaTuning } from "../../deploy/lambda/deps.js";
import type { LambdaDeployPlan, LambdaPlanDetails } from "../../deploy/lambda/plan.js";
import type { LambdaDeployState } from "../../deploy/lambda/release.js";
import { errorLogsSince, failingChecks } from "../../deploy/lambda/release.js";
import type { HealthReport } from "../../observe/health.js";
import type { LogEventOut } from "../../observe/logs.js";
import type { ToolContext } from "../../release/context.js";
import { runRelease } from "../../release/run-release.js";
import type { ReleaseRun } from "../../release/spec.js";
import { lambdaDepsOf } from "./deps.js";
import { recoverersFor } from "./recoverers.js";
import { pendingOf, type ReleaseFacts, releaseFactsOf, releaseTail } from "./release-facts.js";

export interface DeployLambdaRequest {
  dryRun: boolean;
  force: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

export type DeployLambdaStatus =
  | "planned"
  | "confirmation_required"
  | "unchanged"
  | "deployed"
  | "rolled_back"
  | "failed";

export interface DeployLambdaOutput extends Partial<ReleaseFacts> {
  summary: string;
  status: DeployLambdaStatus;
  plan: LambdaDeployPlan & LambdaPlanDetails;
  confirmationToken?: string;
  expiresAt?: string;
  codeSha256: string;
  /** The published version the alias served before; null in $LATEST mode (no alias). */
  previousVersion: string | null;
  /** The CodeSha256 live before this call. */
  previousCodeSha256: string;
  /** The successful release whose code was live before this call (null: none recorded). */
  previousRelease: string | null;
  version?: string;
  releaseId?: string;
  /** What serves now, read back from Lambda after the release. */
  live?: { version: string; codeSha256: string } | null;
  health?: HealthReport;
  failure?: string;
  errorLogs?: LogEventOut[];
  errorLogsNote?: string;
  interrupted?: Array<{ releaseId: string; component: string; phase: string | null }>;
}

/**
 * deploy_lambda: package and plan (domain), then the one release flow, then the answer —
 * written from what the flow read back, never from what it meant to do.
 */
export async function deployLambda(
  ctx: ToolContext,
  request: DeployLambdaRequest,
  tuning: LambdaTuning = {},
): Promise<DeployLambdaOutput> {
  const deps = await lambdaDepsOf(ctx, tuning);
  const prepared = await prepareLambdaDeploy(deps, {
    appRoot: ctx.appRoot,
    backend: ctx.config.backend,
    run: ctx.run,
    force: request.force,
    confirmationToken: request.confirmationToken,
    breakLock: request.breakLock,
  });
  try {
    const { plan, details, pkg, live, interrupted } = prepared;
    const shownPlan = { ...plan, ...details };
    const target = describeTarget(plan);
    const pending = pendingOf(interrupted);
    const base = {
      plan: shownPlan,
      codeSha256: pkg.codeSha256,
      // Safety: "$LATEST" is not a version a rollback can go back to; the code and release are.
      previousVersion: live.alias ? live.version : null,
      previousCodeSha256: live.codeSha256,
      previousRelease: prepared.liveRelease,
      ...(pending.length ? { interrupted: pending } : {}),
    };
    const planWarnings = prepared.planWarnings.length ? { warnings: prepared.planWarnings } : {};
    const changes = plan.rollback !== null;
    const stuck = failedReleaseStillLive(prepared.records, live);
    if (!changes && pending.length === 0 && stuck) {
      // Safety: "unchanged" would hide that the live code never passed its health gate.
      return {
        summary: `The live code of ${target} is that of release ${stuck.releaseId}, which failed its health gate and whose automatic undo did not finish. Deploying the same code again changes nothing: roll back with the rollback tool (component "lambda"), or deploy a fix.`,
        status: "failed",
        ...base,
        live: { version: live.version, codeSha256: live.codeSha256 },
        failure: `release ${stuck.releaseId} failed and its code is still live`,
      };
    }
    if (!changes && pending.length === 0) {
      return {
        summary: `No change: the package (CodeSha256 ${pkg.codeSha256}) is already live on ${target}. Nothing was uploaded or updated; pass force: true to deploy anyway.`,
        status: "unchanged",
        ...base,
      };
    }
    const settle = pending.length
      ? ` First, ${pending.length} interrupted release(s) of ${ctx.envName} are settled (see interrupted).`
      : "";
    if (request.dryRun) {
      return {
        summary: `Dry run: ${changes ? prepared.planText : "the code is already live."}${settle} Nothing was changed.`,
        status: "planned",
        ...base,
        ...planWarnings,
      };
    }
    const result = await runRelease(ctx, prepared.spec, recoverersFor(ctx, tuning));
    if (result.kind === "confirmation_required") {
      return {
        summary: `Confirmation required for ${ctx.envName}: ${changes ? prepared.planText : "the code is already live."}${settle} Show this plan to the user; if they agree, call deploy_lambda again with the confirmationToken (valid until ${result.expiresAt}).${result.blockedBy ? " The confirmed call would be refused now: see blockedBy." : ""}`,
        status: "confirmation_required",
        ...base,
        ...planWarnings,
        confirmationToken: result.confirmationToken,
        expiresAt: result.expiresAt,
        ...(result.blockedBy ? { blockedBy: result.blockedBy } : {}),
      } as DeployLambdaOutput;
    }
    return await finishedOutput(deps, result, {
      ...base,
      target,
      changes,
      rollsBackTo: prepared.rollsBackTo,
    });
  } finally {
    await prepared.dispose();
  }
}

async function finishedOutput(
  deps: Awaited<ReturnType<typeof lambdaDepsOf>>,
  run: ReleaseRun<LambdaDeployState, LiveLambdaCode>,
  input: Pick<
    DeployLambdaOutput,
    "plan" | "codeSha256" | "previousVersion" | "previousCodeSha256" | "previousRelease" | "interrupted"
  > & { target: string; changes: boolean; rollsBackTo: string | null },
): Promise<DeployLambdaOutput> {
  const { state } = run;
  const live = run.live ? { version: run.live.version, codeSha256: run.live.codeSha256 } : null;
  const facts = releaseFactsOf(run);
  const { target: _target, changes: _changes, rollsBackTo: _rollsBackTo, ...shown } = input;
  const common: DeployLambdaOutput = {
    summary: "",
    status: "failed",
    ...shown,
    releaseId: run.releaseId,
    live,
    ...(state.version ? { version: state.version } : {}),
    ...(state.health ? { health: state.health } : {}),
    ...facts,
  };
  const liveText = live
    ? describeLive(input.target, live, input.plan.alias, run.status === "succeeded" ? state.version : null)
    : `what ${input.target} serves could not be read back`;
  const tail = releaseTail(run);
  if (run.status === "succeeded") {
    if (!input.changes) {
      return {
        ...common,
        status: "unchanged",
        summary: `No code change: the package is already live; ${run.recovered.length} interrupted release(s) settled first (see recovered). ${liveText}.${tail}`,
      };
    }
    const isNew = live !== null && live.codeSha256 === input.codeSha256;
    if (!isNew) {
      // Safety: never claim a deploy the read-back does not show.
      return {
        ...common,
        status: "failed",
        summary: `Release ${run.releaseId} finished its steps, but ${liveText}, not the new code ${input.codeSha256}. Check deploy_status before deploying again.${tail}`,
      };
    }
    const how = input.plan.alias
      ? `as version ${state.version ?? live.version}`
      : `: the code is live on $LATEST${state.version ? ` (published as version ${state.version} for the record)` : ""}`;
    return {
      ...common,
      status: "deployed",
      summary: `Deployed ${input.codeSha256} to ${input.target}${input.plan.alias ? " " : ""}${how} (release ${run.releaseId}); health ${healthWord(state.health)}. ${liveText}. ${wayBack(input, state)}${tail}`,
    };
  }
  const failure = run.failure ? `${run.failure.step}: ${run.failure.message}` : "the release did not finish";
  const logs = run.startedAtMs !== undefined ? await errorLogsSince(deps, run.startedAtMs) : {};
  const errorLogs = logs.errorLogs?.length
    ? ` ${logs.errorLogs.length} ERROR log line(s) since the deploy began are in errorLogs (untrusted text).`
    : "";
  if (run.status === "rolled_back") {
    return {
      ...common,
      ...logs,
      status: "rolled_back",
      failure,
      summary: `Release ${run.releaseId} failed (step ${run.failure?.step ?? "unknown"}) and was rolled back: ${liveText}.${errorLogs}${tail}`,
    };
  }
  return {
    ...common,
    ...logs,
    status: "failed",
    failure,
    summary: `Release ${run.releaseId} failed at step ${run.failure?.step ?? "unknown"}${run.undo && !run.undo.ok ? " and the automatic undo failed (see undo.fixCommand)" : ""}: ${liveText}.${errorLogs}${tail}`,
  };
}

/** What serves, truthfully: $LATEST is not a version a person can roll back to. */
function describeLive(
  target: string,
  live: { version: string; codeSha256: string },
  alias: string | null,
  publishedVersion: string | null,
): string {
  if (alias) return `${target} serves version ${live.version} (CodeSha256 ${live.codeSha256})`;
  return `${target} serves the code with CodeSha256 ${live.codeSha256}${publishedVersion ? ` (that of version ${publishedVersion})` : ""}`;
}

/** Where a rollback without "to" goes, or why there is none. */
function wayBack(
  input: Pick<DeployLambdaOutput, "previousVersion" | "previousCodeSha256"> & { rollsBackTo: string | null },
  state: LambdaDeployState,
): string {
  if (state.noWayBack && !input.rollsBackTo) {
    return "The code live before was not saved, so there is no way back to it (see warnings).";
  }
  const previous = input.rollsBackTo
    ? `release ${input.rollsBackTo}`
    : input.previousVersion
      ? `version ${input.previousVersion}, live before this release`
      : `the code live before this release (CodeSha256 ${input.previousCodeSha256})`;
  return `The rollback tool (component "lambda", no "to") puts back ${previous}.`;
}

function healthWord(health: HealthReport | null): string {
  if (!health) return "not checked";
  return health.verdict === "healthy" ? "healthy" : `${health.verdict} (${failingChecks(health)})`;
}
