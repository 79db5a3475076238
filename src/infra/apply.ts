import { DeployError, RefusalError } from "../core/errors.js";
import type { ReleaseSpec } from "../release/spec.js";
import type { InfraDeps } from "./deps.js";
import { errorLines, heldStateLock, isStalePlan, type StateLockInfo } from "./diagnostics.js";
import {
  analysePlan,
  type ChangeCounts,
  describeCounts,
  type PlanAnalysis,
  type PlannedChange,
} from "./plan-analysis.js";
import { copyForApply, discardPlan, type PlanCopy } from "./plan-store.js";
import { infraRecoveryPlan } from "./recover.js";
import { runTerraform, type TerraformWorkspace } from "./runner.js";

export interface ApplyRequest {
  planDigest: string;
  allowDataLoss: boolean;
}

/**
 * A saved plan copied once into a private file that was hashed and read, ready to go through
 * the release flow. The caller disposes of the copy when the call ends.
 */
export interface PreparedApply {
  /** The copy's own SHA-256: what the confirmation token binds and the record names. */
  planDigest: string;
  /** The one file terraform show read and terraform apply is handed. */
  copy: PlanCopy;
  /** Read from the copy itself, not from what the plan call said. */
  plan: PlanAnalysis;
  workspace: TerraformWorkspace;
}

/** The canonical plan of an apply; the token confirms the saved plan file's digest. */
export interface InfraApplyPlan {
  planDigest: string;
  counts: ChangeCounts;
  changes: PlannedChange[];
}

/** Why terraform apply exited non-zero, as far as its output tells. */
export interface ApplyFailure {
  exitCode: number | null;
  /** Terraform refused the plan because the state changed after it was made. */
  stale: boolean;
  /** The holder of terraform's state lock when it could not take it. */
  lock: StateLockInfo | null;
  /** Untrusted terraform output: the lines that explain the failure. */
  errors: string[];
  /** Untrusted: the end of terraform's output. */
  outputTail: string;
}

/** What the apply step learns; the tool reports the failure facts in their own fields. */
export interface InfraApplyState {
  /** The counts applied, once terraform exited 0. */
  applied: ChangeCounts | null;
  durationMs: number | null;
  failure: ApplyFailure | null;
}

/** What the apply left in place, as the step saw it (terraform reports no more without a new plan). */
export interface InfraApplyLive {
  applied: ChangeCounts | null;
}

export type InfraApplySpec = ReleaseSpec<InfraApplyPlan, InfraApplyState, InfraApplyLive>;

export interface InfraApplySpecInput {
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

const FAILURE_TAIL_CHARS = 4_000;
/** Applies can create databases and CDNs: an hour before the flow gives up on one. */
const APPLY_DEADLINE_MS = 60 * 60_000;

/**
 * Everything before the release, read-only: the saved plan named by `planDigest` is copied
 * once into a private file, THAT copy is hashed against the digest, its changes are read from
 * it, and data-loss changes are refused without `allowDataLoss` (before the flow, so a refusal
 * here spends no confirmation token). The same copy is what the apply step hands to terraform.
 */
export async function prepareApply(
  deps: Pick<InfraDeps, "run" | "signal" | "progress" | "env" | "statefulTypes">,
  workspace: TerraformWorkspace,
  request: ApplyRequest,
): Promise<PreparedApply> {
  const copy = await copyForApply(workspace.plans, request.planDigest);
  try {
    const plan = await readPlan(deps, workspace, copy);
    refuseUnacceptedDataLoss(plan, request.allowDataLoss);
    return { planDigest: copy.digest, copy, plan, workspace };
  } catch (error) {
    await copy.dispose();
    throw error;
  }
}

async function readPlan(
  deps: Pick<InfraDeps, "run" | "signal" | "progress" | "env" | "statefulTypes">,
  workspace: TerraformWorkspace,
  copy: PlanCopy,
): Promise<PlanAnalysis> {
  const show = await runTerraform(deps, workspace, ["show", "-json", "-no-color", copy.path]);
  if (show.exitCode !== 0) {
    throw new RefusalError(
      `terraform could not read the saved plan ${copy.digest}; nothing was applied. Run terraform_plan again.`,
      { errors: errorLines(show.tail) },
    );
  }
  return analysePlan(JSON.parse(show.stdout), deps.statefulTypes);
}

function refuseUnacceptedDataLoss(plan: PlanAnalysis, allowDataLoss: boolean): void {
  if (plan.dataLossRisks.length === 0 || allowDataLoss) return;
  throw new RefusalError(
    `This plan deletes or replaces stateful resources, which destroys their data: ${plan.dataLossRisks.join(", ")}. Nothing was applied. Only if the user explicitly accepts losing that data, call terraform_apply again with allowDataLoss: true (and the same planDigest); otherwise change the configuration and plan again.`,
    { dataLossRisks: plan.dataLossRisks },
  );
}

/**
 * terraform_apply as a release: check that the private copy is still the approved bytes, then
 * `terraform apply <that copy>`. An apply cannot be undone (there is no previous state to put
 * back safely), so there is no undo and no verify: a failure is reported with what terraform
 * said, and the next plan shows the rest.
 */
export function infraApplySpec(
  deps: Pick<InfraDeps, "envName" | "run" | "signal" | "progress" | "env">,
  prepared: PreparedApply,
  input: InfraApplySpecInput,
): InfraApplySpec {
  const { plan, workspace } = prepared;
  const state: InfraApplyState = { applied: null, durationMs: null, failure: null };
  return {
    component: "infra",
    plan: { planDigest: prepared.planDigest, counts: plan.counts, changes: plan.changes },
    planDigest: prepared.planDigest,
    approvalText: approvalText(deps.envName, plan),
    requirePreflight: false,
    confirmationToken: input.confirmationToken,
    breakLock: input.breakLock,
    state,
    record: {
      artifacts: {
        planDigest: prepared.planDigest,
        terraformVersion: `${workspace.binary.command} ${workspace.binary.version}`,
      },
    },
    recoveryPlan: (phase) => infraRecoveryPlan(deps.envName, phase),
    steps: [checkCopyStep(prepared), applyStep(deps, prepared)],
    readLive: async () => ({ applied: state.applied }),
    recordLive: (live, _s, status) =>
      status === "succeeded" && live.applied
        ? { after: { applied: live.applied, changes: plan.changes } }
        : {},
  };
}

/**
 * The copy waited in the private store while a person was asked (minutes, maybe): it is hashed
 * once more right before terraform gets it, in a phase that touches nothing, so a copy changed
 * meanwhile fails the release with nothing applied.
 */
function checkCopyStep(prepared: PreparedApply): InfraApplySpec["steps"][number] {
  return {
    name: "check-plan-copy",
    phase: "preparing",
    async run() {
      if (await prepared.copy.intact()) return;
      throw new RefusalError(
        `the private copy of plan ${prepared.planDigest} changed while the release waited, so it is no longer the plan that was approved; nothing was applied. Run terraform_plan again and review the new plan`,
        { reason: "plan_file_changed" },
      );
    },
  };
}

function applyStep(
  deps: Pick<InfraDeps, "run" | "signal" | "progress" | "env">,
  prepared: PreparedApply,
): InfraApplySpec["steps"][number] {
  const { copy, plan, workspace } = prepared;
  return {
    name: "terraform-apply",
    phase: "switching",
    touchesLive: true,
    deadlineMs: APPLY_DEADLINE_MS,
    async run(s, io) {
      const apply = await runTerraform({ ...deps, signal: io.signal, progress: io.progress }, workspace, [
        "apply",
        "-input=false",
        "-no-color",
        `-lock-timeout=${deps.env.terraform.lockTimeout}`,
        copy.path,
      ]);
      s.durationMs = apply.durationMs;
      if (apply.exitCode === 0) {
        s.applied = plan.counts;
        // A plan applies once; keeping it would only invite applying a stale copy.
        await discardPlan(workspace.plans, prepared.planDigest);
        return;
      }
      const failure: ApplyFailure = {
        exitCode: apply.exitCode,
        stale: isStalePlan(apply.tail),
        lock: heldStateLock(apply.tail),
        errors: errorLines(apply.tail),
        outputTail: apply.tail.slice(-FAILURE_TAIL_CHARS),
      };
      s.failure = failure;
      // A stale plan can never apply; removing it makes the next attempt ask for a new plan.
      if (failure.stale) await discardPlan(workspace.plans, prepared.planDigest);
      throw new DeployError("TOOL_FAILED", failureMessage(failure));
    },
  };
}

/** The step's failure in the server's own words (terraform's text stays in errors/outputTail). */
function failureMessage(failure: ApplyFailure): string {
  const exit = `terraform apply exited with ${failure.exitCode ?? "no exit code"}`;
  if (failure.stale)
    return `${exit}: the saved plan is stale (the state changed after it was made); nothing from it was applied and the plan file was discarded.`;
  if (failure.lock) return `${exit}: the terraform state lock is held by another run; nothing was applied.`;
  return `${exit}; some changes may have been made. Run terraform_plan to see what remains.`;
}

function approvalText(envName: string, plan: PlanAnalysis): string {
  const risk =
    plan.dataLossRisks.length > 0
      ? ` It DESTROYS DATA in: ${plan.dataLossRisks.join(", ")}.`
      : " No stateful resource is deleted or replaced.";
  return `Apply the reviewed terraform plan to ${envName}: ${describeCounts(plan.counts)}.${risk}`;
}
