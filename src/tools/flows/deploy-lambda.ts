import { DeployError, describeError } from "../../core/errors.js";
import { type CanarySettings, canaryFiguresText, canarySettingsOf } from "../../deploy/lambda/canary.js";
import type { LiveLambdaRouting } from "../../deploy/lambda/code.js";
import { describeTarget, failedReleaseStillLive, prepareLambdaDeploy } from "../../deploy/lambda/deploy.js";
import type { LambdaTuning } from "../../deploy/lambda/deps.js";
import { type EarlyWalk, startWalk } from "../../deploy/lambda/package.js";
import type { LambdaDeployPlan, LambdaPlanDetails } from "../../deploy/lambda/plan.js";
import type { LambdaDeployState } from "../../deploy/lambda/release.js";
import { errorLogsSince, failingChecks } from "../../deploy/lambda/release.js";
import type { CanaryEvidence } from "../../observe/canary-schema.js";
import type { HealthReport } from "../../observe/health.js";
import type { LogEventOut } from "../../observe/logs.js";
import type { ToolContext } from "../../release/context.js";
import { readGitStateEarly } from "../../release/gates.js";
import { runRelease } from "../../release/run-release.js";
import type { ReleaseResult, ReleaseRun } from "../../release/spec.js";
import { lambdaDepsOf } from "./deps.js";
import { recoverersFor } from "./recoverers.js";
import { pendingOf, type ReleaseFacts, releaseFactsOf, releaseTail } from "./release-facts.js";

export interface DeployLambdaRequest {
  dryRun: boolean;
  force: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
  /** Default all_at_once. */
  strategy?: "all_at_once" | "canary" | undefined;
  /** Strategy canary only; default 10. */
  canaryPercent?: number | undefined;
  /** Strategy canary only; default 5. */
  bakeMinutes?: number | undefined;
  /** false: answer once the release started and let it run on in this server. Default true. */
  wait?: boolean | undefined;
}

/**
 * The tool's prefetch: the backend's walk (local reads only: the file list and every file's
 * stat), started while the env's protection is read, so the package — and its upload — start
 * a few hundred milliseconds sooner. Never fails: the deploy then walks itself.
 */
export function prefetchLambda(ctx: ToolContext): EarlyWalk {
  return startWalk(ctx.appRoot, ctx.config.backend);
}

function earlyWalkOf(value: unknown): EarlyWalk | null {
  return value !== null && typeof value === "object" && "startedAt" in value && "files" in value
    ? (value as EarlyWalk)
    : null;
}

export const DEFAULT_CANARY_PERCENT = 10;
export const DEFAULT_BAKE_MINUTES = 5;

export type DeployLambdaStatus =
  | "planned"
  | "confirmation_required"
  | "unchanged"
  | "deployed"
  | "rolled_back"
  | "failed"
  | "in_progress";

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
  live?: { version: string; codeSha256: string; weights?: Record<string, number> } | null;
  health?: HealthReport;
  canary?: CanaryEvidence;
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
  // Who is calling is asked once the release starts; asked now, the answer is in by then.
  if (!request.dryRun) {
    ctx.identity().catch(() => {});
    readGitStateEarly(ctx);
  }
  const canary = canaryOf(ctx, request);
  const background = backgroundOf(ctx, request, canary);
  // Once the call answered and the release runs on, nobody waits for its progress: the
  // client would not know the progress token any more.
  const answered = { yes: false };
  const runCtx: ToolContext = {
    ...ctx,
    progress: (message, progress, total) => {
      if (!answered.yes) ctx.progress(message, progress, total);
    },
  };
  const deps = await lambdaDepsOf(runCtx, tuning);
  const prepared = await prepareLambdaDeploy(deps, {
    appRoot: ctx.appRoot,
    backend: ctx.config.backend,
    run: ctx.run,
    force: request.force,
    confirmationToken: request.confirmationToken,
    breakLock: request.breakLock,
    canary,
    // Only a call that will deploy sends the package while zipping it: a dry run or a
    // protected env's first call (it answers with a token) uploads nothing.
    stageUpload: !request.dryRun && (!ctx.env.protected || Boolean(request.confirmationToken)),
    walked: earlyWalkOf(await ctx.prefetched),
  });
  let disposeLater = false;
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
    const warnings = [...prepared.planWarnings, ...(background.note ? [background.note] : [])];
    const planWarnings = warnings.length ? { warnings } : {};
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
    let result: ReleaseResult<LambdaDeployState, LiveLambdaRouting>;
    if (background.detach) {
      const started = await startDetached(runCtx, prepared.spec, recoverersFor(runCtx, tuning));
      if ("releaseId" in started) {
        answered.yes = true;
        disposeLater = true;
        const finished = started.finished.finally(() => {
          prepared.dispose();
          ctx.session.background.delete(finished);
        });
        ctx.session.background.add(finished);
        return inProgressOutput(ctx, started.releaseId, { ...base, target, canary, planWarnings });
      }
      result = started.result;
    } else {
      result = await runRelease(runCtx, prepared.spec, recoverersFor(runCtx, tuning));
    }
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
    return await finishedOutput(
      deps,
      result,
      {
        ...base,
        target,
        changes,
        rollsBackTo: prepared.rollsBackTo,
      },
      background.note,
    );
  } finally {
    if (!disposeLater) await prepared.dispose();
  }
}

/** The canary settings of a call, or null for all_at_once; the canary-only inputs refused otherwise. */
function canaryOf(ctx: ToolContext, request: DeployLambdaRequest): CanarySettings | undefined {
  if (request.strategy !== "canary") {
    const stray = [
      request.canaryPercent !== undefined ? "canaryPercent" : null,
      request.bakeMinutes !== undefined ? "bakeMinutes" : null,
    ].filter((name): name is string => name !== null);
    if (stray.length) {
      throw new DeployError(
        "INPUT_INVALID",
        `${stray.join(" and ")} only apply to strategy "canary"; pass strategy: "canary" as well, or leave ${stray.length > 1 ? "them" : "it"} out. Nothing was run.`,
      );
    }
    return undefined;
  }
  return canarySettingsOf(
    {
      percent: request.canaryPercent ?? DEFAULT_CANARY_PERCENT,
      bakeMinutes: request.bakeMinutes ?? DEFAULT_BAKE_MINUTES,
    },
    ctx.config.release.canary,
  );
}

/**
 * Whether the call answers once the release started and lets it run on in this server: asked
 * (wait: false), or a bake longer than release.canary.maxWaitMinutes. Only a long-lived
 * server can do that: the CLI exits (and closes its clients) after its answer, and a deploy
 * role's credentials live for one call; there an explicit wait: false is refused, and a long
 * bake holds the call (and says so).
 */
function backgroundOf(
  ctx: ToolContext,
  request: DeployLambdaRequest,
  canary: CanarySettings | undefined,
): { detach: boolean; note?: string } {
  const maxWait = ctx.config.release.canary.maxWaitMinutes;
  const long = canary !== undefined && canary.bakeMinutes > maxWait;
  if (request.wait !== false && !long) return { detach: false };
  const cannot = !ctx.outlivesAnswer
    ? "The CLI cannot leave a release running after it answers (it exits)"
    : ctx.deployRole
      ? "A release that runs as the deploy role cannot outlive the call (the role's credentials live for one call only)"
      : null;
  if (cannot === null) return { detach: true };
  if (request.wait === false) {
    throw new DeployError(
      "INPUT_INVALID",
      `${cannot}: wait: false is refused. Call again without it (the call then waits for the release and reports progress), or use the MCP server. Nothing was run.`,
    );
  }
  return {
    detach: false,
    note: `The bake (${canary?.bakeMinutes} min) is longer than release.canary.maxWaitMinutes (${maxWait}), but ${cannot.charAt(0).toLowerCase()}${cannot.slice(1)}: this call waits for it.`,
  };
}

type Detached =
  | { releaseId: string; finished: Promise<void> }
  | { result: ReleaseResult<LambdaDeployState, LiveLambdaRouting> };

/**
 * Runs the release and resolves as soon as its record exists (it then holds the lock, its
 * heartbeat runs, and deploy_status can follow it by id), or with its result when it ended
 * before that (a refusal, a confirmation_required answer). The release itself runs on in
 * this process; what it ended with is in its record, and the client's log gets one line.
 */
async function startDetached(
  ctx: ToolContext,
  spec: Parameters<typeof runRelease<unknown, LambdaDeployState, LiveLambdaRouting>>[1],
  recoverers: ReturnType<typeof recoverersFor>,
): Promise<Detached> {
  let onStarted: (releaseId: string) => void = () => {};
  const started = new Promise<string>((resolve) => {
    onStarted = resolve;
  });
  const running = runRelease(ctx, spec, recoverers, { onStarted: (id) => onStarted(id) });
  const first = await Promise.race([
    started.then((releaseId) => ({ releaseId })),
    running.then((result) => ({ result })),
  ]);
  if ("result" in first) return first;
  const finished = running.then(
    (result) => {
      if (result.kind !== "finished") return;
      const text =
        result.status === "succeeded"
          ? `Release ${result.releaseId} finished: ${result.state.canary ? "canary promoted" : "deployed"}.`
          : `Release ${result.releaseId} ended ${result.status}${result.failure ? ` at step ${result.failure.step}` : ""}; deploy_status {releaseId} has the details.`;
      ctx.log(result.status === "succeeded" ? "info" : "error", text);
    },
    (error: unknown) => {
      ctx.log(
        "error",
        `Release ${first.releaseId} stopped with an error after its call answered (${describeError(error)}); if its record still says in_progress, the next guarded call settles it.`,
      );
    },
  );
  return { releaseId: first.releaseId, finished };
}

function inProgressOutput(
  ctx: ToolContext,
  releaseId: string,
  input: Pick<
    DeployLambdaOutput,
    "plan" | "codeSha256" | "previousVersion" | "previousCodeSha256" | "previousRelease" | "interrupted"
  > & { target: string; canary: CanarySettings | undefined; planWarnings: { warnings?: string[] } },
): DeployLambdaOutput {
  const { target, canary, planWarnings, ...shown } = input;
  const what = canary
    ? `a canary of ${input.codeSha256} on ${target}: ${canary.percent}% of the traffic for ${canary.bakeMinutes} min against version ${input.previousVersion}, then promoted or rolled back`
    : `the deploy of ${input.codeSha256} to ${target}`;
  return {
    ...shown,
    ...planWarnings,
    status: "in_progress",
    releaseId,
    phase: "locked",
    summary: `Release ${releaseId} started: ${what}. It runs on in this server after this answer (it holds the ${ctx.envName} deploy lock, kept alive by its heartbeat). Follow it with deploy_status {"env": "${ctx.envName}", "releaseId": "${releaseId}"}: its phase, ${canary ? "the canary's figures so far, " : ""}and its outcome. If the server stops first, the next guarded call settles it.`,
  };
}

async function finishedOutput(
  deps: Awaited<ReturnType<typeof lambdaDepsOf>>,
  run: ReleaseRun<LambdaDeployState, LiveLambdaRouting>,
  input: Pick<
    DeployLambdaOutput,
    "plan" | "codeSha256" | "previousVersion" | "previousCodeSha256" | "previousRelease" | "interrupted"
  > & { target: string; changes: boolean; rollsBackTo: string | null },
  note?: string,
): Promise<DeployLambdaOutput> {
  const { state } = run;
  const canaryPlanned = input.plan.canary !== undefined;
  const split = run.live ? Object.keys(run.live.weights).length > 0 : false;
  const live = run.live
    ? {
        version: run.live.version,
        codeSha256: run.live.codeSha256,
        ...(canaryPlanned || split ? { weights: run.live.weights } : {}),
      }
    : null;
  if (note) run.warnings.push(note);
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
    ...(state.canary ? { canary: state.canary } : {}),
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
    const baked = state.canary
      ? ` The canary passed (${canaryFiguresText(state.canary)}) and was promoted.`
      : "";
    return {
      ...common,
      status: "deployed",
      summary: `Deployed ${input.codeSha256} to ${input.target}${input.plan.alias ? " " : ""}${how} (release ${run.releaseId}); health ${healthWord(state.health)}.${baked} ${liveText}${splitText(live)}. ${wayBack(input, state)}${tail}`,
    };
  }
  const failure = run.failure ? `${run.failure.step}: ${run.failure.message}` : "the release did not finish";
  const logs = run.startedAtMs !== undefined ? await errorLogsSince(deps, run.startedAtMs) : {};
  const errorLogs = logs.errorLogs?.length
    ? ` ${logs.errorLogs.length} ERROR log line(s) since the deploy began are in errorLogs (untrusted text).`
    : "";
  if (run.status === "rolled_back") {
    const canaryText = canaryRollbackText(run, state.canary);
    return {
      ...common,
      ...logs,
      status: "rolled_back",
      failure,
      summary: `Release ${run.releaseId} failed (step ${run.failure?.step ?? "unknown"}) and was rolled back: ${canaryText}${liveText}${splitText(live)}.${errorLogs}${tail}`,
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

/** Whether the alias splits its traffic, read back (a canary's answer always says). */
function splitText(live: { weights?: Record<string, number> } | null): string {
  if (!live?.weights) return "";
  const shares = Object.entries(live.weights);
  if (shares.length === 0) return ", no other version gets a share of its traffic";
  return `, and still sends ${shares.map(([v, w]) => `${Math.round(w * 1000) / 10}% to version ${v}`).join(", ")}`;
}

/** Why a canary was rolled back, in the server's words (its reasons were computed in this call). */
function canaryRollbackText(
  run: ReleaseRun<LambdaDeployState, LiveLambdaRouting>,
  canary: CanaryEvidence | null,
): string {
  if (!canary) return "";
  if (canary.verdict === "cancelled" || run.cancelled) {
    return `the call was cancelled mid-bake (${canaryFiguresText(canary)}), so the canary's share was removed; `;
  }
  if (canary.verdict === "failed" || canary.verdict === "insufficient_traffic") {
    return `the canary ${canary.verdict === "failed" ? "failed" : "had too little traffic"} (${canary.reasons.join("; ")}; ${canaryFiguresText(canary)}), so its share was removed; `;
  }
  return "";
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
