import type { InfraApplyLive, InfraApplyState, PreparedApply } from "../../infra/apply.js";
import type { InfraDeps } from "../../infra/deps.js";
import type { StateLockInfo } from "../../infra/diagnostics.js";
import { type ChangeCounts, describeCounts } from "../../infra/plan-analysis.js";
import type { ToolContext } from "../../release/context.js";
import type { RecoveredRelease, ReleaseResult, ReleaseRun } from "../../release/spec.js";
import { recoverersFor } from "./recoverers.js";

/** The narrow dependencies of the terraform code, taken from one call's context. */
export function infraDepsOf(ctx: ToolContext): InfraDeps {
  return {
    envName: ctx.envName,
    env: ctx.env,
    appRoot: ctx.appRoot,
    statefulTypes: ctx.config.statefulTypes,
    run: ctx.run,
    signal: ctx.signal,
    progress: ctx.progress,
    now: ctx.now,
    credentials: ctx.roleCredentials,
  };
}

export interface TerraformApplyRequest {
  planDigest: string;
  allowDataLoss: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

/** terraform_apply's answer (its outputSchema is in tools/terraform-apply.ts). */
export interface TerraformApplyOutput {
  summary: string;
  status: "confirmation_required" | "applied" | "failed";
  applied?: ChangeCounts;
  releaseId?: string;
  confirmationToken?: string;
  expiresAt?: string;
  planDigest: string;
  planned: ChangeCounts;
  dataLossRisks: string[];
  terraformVersion: string;
  stale?: boolean;
  errors?: string[];
  lock?: StateLockInfo;
  outputTail?: string;
  warnings?: string[];
  recovered?: RecoveredRelease[];
}

/**
 * terraform_apply: copy, verify and read the saved plan (domain, read-only), then the one
 * release flow on that copy, then the answer — its summary in the server's own words (counts,
 * ids, statuses); terraform's text only ever goes into errors, lock and outputTail.
 */
export async function terraformApply(
  ctx: ToolContext,
  request: TerraformApplyRequest,
): Promise<TerraformApplyOutput> {
  // Lazy: the release flow pulls in the AWS SDK, which `tools/list` must not pay for.
  const { resolveWorkspace } = await import("../../infra/workspace.js");
  const { prepareApply, infraApplySpec } = await import("../../infra/apply.js");
  const { runRelease } = await import("../../release/run-release.js");
  const deps = infraDepsOf(ctx);
  const workspace = await resolveWorkspace(deps);
  const prepared = await prepareApply(deps, workspace, {
    planDigest: request.planDigest,
    allowDataLoss: request.allowDataLoss,
  });
  try {
    const spec = infraApplySpec(deps, prepared, {
      confirmationToken: request.confirmationToken,
      breakLock: request.breakLock,
    });
    const result = await runRelease(ctx, spec, recoverersFor(ctx));
    return outputOf(ctx.envName, prepared, result);
  } finally {
    // The private copy served this call only; the saved plan stays until it is applied.
    await prepared.copy.dispose();
  }
}

function outputOf(
  envName: string,
  prepared: PreparedApply,
  result: ReleaseResult<InfraApplyState, InfraApplyLive>,
): TerraformApplyOutput {
  const { workspace } = prepared;
  const base = {
    planDigest: prepared.planDigest,
    planned: prepared.plan.counts,
    dataLossRisks: prepared.plan.dataLossRisks,
    terraformVersion: `${workspace.binary.command} ${workspace.binary.version}`,
  };
  if (result.kind === "confirmation_required") {
    const risk = prepared.plan.dataLossRisks.length
      ? ` It deletes or replaces ${prepared.plan.dataLossRisks.length} stateful resource(s) (see dataLossRisks).`
      : "";
    return {
      ...base,
      status: "confirmation_required",
      confirmationToken: result.confirmationToken,
      expiresAt: result.expiresAt,
      summary: `Nothing applied: ${envName} is protected. The plan has ${describeCounts(prepared.plan.counts)}.${risk} Show it to the user; only after they approve, call terraform_apply again with this planDigest and confirmationToken (expires ${result.expiresAt}).`,
    };
  }
  return finishedOutput(envName, prepared, result, base);
}

function finishedOutput(
  envName: string,
  prepared: PreparedApply,
  run: ReleaseRun<InfraApplyState, InfraApplyLive>,
  base: Pick<TerraformApplyOutput, "planDigest" | "planned" | "dataLossRisks" | "terraformVersion">,
): TerraformApplyOutput {
  const facts = {
    ...base,
    releaseId: run.releaseId,
    ...(run.warnings.length ? { warnings: run.warnings } : {}),
    ...(run.recovered.length ? { recovered: run.recovered } : {}),
  };
  const tail = tailOf(run);
  if (run.status === "succeeded") {
    const applied = run.live?.applied ?? run.state.applied ?? prepared.plan.counts;
    return {
      ...facts,
      status: "applied",
      applied,
      summary: `Applied the reviewed plan to ${envName}: ${describeCounts(applied)} (release ${run.releaseId}).${tail}`,
    };
  }
  const failure = run.state.failure;
  const terraformFacts = failure
    ? {
        stale: failure.stale,
        errors: failure.errors,
        ...(failure.lock ? { lock: failure.lock } : {}),
        outputTail: failure.outputTail,
      }
    : {};
  return {
    ...facts,
    ...terraformFacts,
    status: "failed",
    summary: `Apply to ${envName} failed (release ${run.releaseId}): ${whyFailed(run)}.${tail}`,
  };
}

function whyFailed(run: ReleaseRun<InfraApplyState, InfraApplyLive>): string {
  const failure = run.state.failure;
  if (failure?.stale) {
    return "terraform refused the saved plan because it is stale (the state changed after the plan was made); nothing from it was applied. Run terraform_plan again, review the new plan and apply its planDigest";
  }
  if (failure?.lock) {
    return `the terraform state lock is held by another run (see lock; lock id ${lockId(failure.lock)}); nothing was applied. Wait for it to finish and apply again`;
  }
  if (failure) {
    return `terraform apply exited with ${failure.exitCode ?? "no exit code"} and failed part-way (see errors); some changes may have been made. Run terraform_plan to see what remains`;
  }
  if (run.cancelled) {
    return "the call was cancelled while terraform applied (terraform was sent SIGINT so it could release its state lock); some changes may have been made. Run terraform_plan to see what the state holds now";
  }
  // Not terraform's text: the flow's own message (deadline, journal, deploy lock).
  const step = run.failure?.step ?? "unknown";
  const message = (run.failure?.message ?? "the release did not finish").replace(/\.\s*$/, "");
  const mayHaveApplied =
    step === "terraform-apply"
      ? ". Some changes may have been made: run terraform_plan to see what the state holds now"
      : "";
  return `step ${step}: ${message}${mayHaveApplied}`;
}

/** The state lock id, when it looks like one (the rest of the holder's text stays in lock). */
function lockId(lock: StateLockInfo): string {
  return lock.id && /^[0-9a-zA-Z-]{1,64}$/.test(lock.id) ? lock.id : "unknown";
}

/** The end of a summary: what else this call did, in the server's own words. */
function tailOf(run: ReleaseRun<InfraApplyState, InfraApplyLive>): string {
  const parts: string[] = [];
  if (run.recovered.length) {
    const unresolved = run.recovered.filter((r) => r.outcome === "unresolved").length;
    parts.push(
      `${run.recovered.length} interrupted release(s) of this env were settled first (see recovered)${unresolved ? `; ${unresolved} could not be resolved automatically and need a person (see their notes)` : ""}.`,
    );
  }
  if (run.replacedLock?.how === "broken") parts.push("A live deploy lock was broken, as breakLock asked.");
  if (run.warnings.length) parts.push(`${run.warnings.length} warning(s): see warnings.`);
  return parts.length ? ` ${parts.join(" ")}` : "";
}
