import { RefusalError } from "../core/errors.js";
import type { ToolContext } from "../release/context.js";
import { runGuardedMutation } from "../release/run-release.js";
import type { MutationOutcome } from "../release/types.js";
import { errorLines, heldStateLock, isStalePlan, type StateLockInfo } from "./diagnostics.js";
import { analysePlan, type ChangeCounts, describeCounts, type PlanAnalysis } from "./plan-analysis.js";
import { discardPlan, verifiedPlan } from "./plan-store.js";
import { runTerraform, type TerraformWorkspace } from "./runner.js";

export interface ApplyRequest {
  planDigest: string;
  allowDataLoss: boolean;
  confirmationToken?: string | undefined;
  breakLock?: boolean | undefined;
}

interface ApplyFailure {
  /** Terraform refused the plan because the state changed after it was made. */
  stale: boolean;
  lock: StateLockInfo | null;
  /** Untrusted terraform output: the lines that explain the failure. */
  errors: string[];
  outputTail: string;
}

export type ApplyOutcome =
  | {
      status: "confirmation_required";
      planDigest: string;
      confirmationToken: string;
      expiresAt: string;
      plan: PlanAnalysis;
    }
  | { status: "applied"; releaseId: string; applied: ChangeCounts; plan: PlanAnalysis; durationMs: number }
  | ({ status: "failed"; releaseId: string; plan: PlanAnalysis } & ApplyFailure);

/** What the mutation inside the guard reports back. */
type ApplyRun = { ok: true; durationMs: number } | ({ ok: false } & ApplyFailure);

const FAILURE_TAIL_CHARS = 4_000;

/**
 * Applies exactly the saved plan named by `planDigest`: the file is re-hashed, its changes
 * re-read from the file itself (not from what the plan call said), data-loss changes need
 * `allowDataLoss`, and the guard handles token, approval, deploy lock and release record.
 */
export async function applySavedPlan(
  ctx: ToolContext,
  workspace: TerraformWorkspace,
  request: ApplyRequest,
): Promise<ApplyOutcome> {
  const planFile = await verifiedPlan(workspace.dataDir, request.planDigest);
  const show = await runTerraform(ctx, workspace, ["show", "-json", "-no-color", planFile]);
  if (show.exitCode !== 0) {
    throw new RefusalError(
      `terraform could not read the saved plan ${request.planDigest}; nothing was applied. Run terraform_plan again.`,
      { errors: errorLines(show.tail) },
    );
  }
  const plan = analysePlan(JSON.parse(show.stdout), ctx.config.statefulTypes);
  // Safety: checked before the guard, so a refusal here consumes no confirmation token.
  if (plan.dataLossRisks.length > 0 && !request.allowDataLoss) {
    throw new RefusalError(
      `This plan deletes or replaces stateful resources, which destroys their data: ${plan.dataLossRisks.join(", ")}. Nothing was applied. Only if the user explicitly accepts losing that data, call terraform_apply again with allowDataLoss: true (and the same planDigest); otherwise change the configuration and plan again.`,
      { dataLossRisks: plan.dataLossRisks },
    );
  }

  const guarded = await runGuardedMutation(
    {
      ctx,
      component: "infra",
      plan: { planDigest: request.planDigest, counts: plan.counts, changes: plan.changes },
      planDigest: request.planDigest,
      planSummary: approvalText(ctx.envName, plan),
      confirmationToken: request.confirmationToken,
      breakLock: request.breakLock,
      requirePreflight: false,
    },
    async (): Promise<MutationOutcome<ApplyRun>> => {
      const apply = await runTerraform(ctx, workspace, [
        "apply",
        "-input=false",
        "-no-color",
        `-lock-timeout=${ctx.env.terraform.lockTimeout}`,
        planFile,
      ]);
      if (apply.exitCode === 0) {
        // A plan applies once; keeping it would only invite applying a stale copy.
        await discardPlan(planFile);
        return {
          status: "succeeded",
          result: { ok: true, durationMs: apply.durationMs },
          record: {
            artifacts: { planDigest: request.planDigest, terraformVersion: workspace.binary.version },
            after: { applied: plan.counts, changes: plan.changes },
            timings: { apply: apply.durationMs },
          },
        };
      }
      const failure: ApplyFailure = {
        stale: isStalePlan(apply.tail),
        lock: heldStateLock(apply.tail),
        errors: errorLines(apply.tail),
        outputTail: apply.tail.slice(-FAILURE_TAIL_CHARS),
      };
      // A stale plan can never apply; removing it makes the next attempt ask for a new plan.
      if (failure.stale) await discardPlan(planFile);
      return {
        status: "failed",
        result: { ok: false, ...failure },
        record: {
          artifacts: { planDigest: request.planDigest, terraformVersion: workspace.binary.version },
          error: failure.stale ? "saved plan is stale" : `terraform apply exited with ${apply.exitCode}`,
          timings: { apply: apply.durationMs },
        },
      };
    },
  );

  if (guarded.kind === "confirmation_required") {
    return {
      status: "confirmation_required",
      planDigest: guarded.planDigest,
      confirmationToken: guarded.confirmationToken,
      expiresAt: guarded.expiresAt,
      plan,
    };
  }
  const result = guarded.result;
  if (result.ok) {
    return {
      status: "applied",
      releaseId: guarded.releaseId,
      applied: plan.counts,
      plan,
      durationMs: result.durationMs,
    };
  }
  const { ok: _ok, ...failure } = result;
  return { status: "failed", releaseId: guarded.releaseId, plan, ...failure };
}

function approvalText(envName: string, plan: PlanAnalysis): string {
  const risk =
    plan.dataLossRisks.length > 0
      ? ` It DESTROYS DATA in: ${plan.dataLossRisks.join(", ")}.`
      : " No stateful resource is deleted or replaced.";
  return `Apply the reviewed terraform plan to ${envName}: ${describeCounts(plan.counts)}.${risk}`;
}
