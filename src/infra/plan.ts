import { rm } from "node:fs/promises";
import type { InfraDeps } from "./deps.js";
import { errorLines, heldStateLock, type StateLockInfo } from "./diagnostics.js";
import { ensureInitialised } from "./init.js";
import { analysePlan, type PlanAnalysis } from "./plan-analysis.js";
import { newPlanScratch, savePlan } from "./plan-store.js";
import { runTerraform, type TerraformWorkspace } from "./runner.js";

export type PlanOutcome =
  | ({ status: "changes" | "no_changes"; planDigest: string; planFile: string | null } & PlanAnalysis)
  | {
      status: "error";
      phase: "init" | "plan" | "show";
      /** Untrusted terraform output: the lines that explain the failure. */
      errors: string[];
      outputTail: string;
      lock: StateLockInfo | null;
    };

/** Bytes of raw output kept next to a failure (the errors[] lines are the digest of it). */
const FAILURE_TAIL_CHARS = 4_000;

/**
 * init (when needed) → `plan -out -detailed-exitcode` → `show -json`. terraform writes the plan
 * straight into a fresh folder of the private plan store (never into the repo, where it could
 * be swapped before it is hashed); a plan with changes is kept there under its SHA-256 for
 * terraform_apply, a plan without changes is not kept (there is nothing to apply).
 */
export async function planInfrastructure(
  deps: Pick<InfraDeps, "run" | "signal" | "progress" | "env" | "statefulTypes" | "now">,
  workspace: TerraformWorkspace,
  targets: readonly string[] = [],
): Promise<PlanOutcome> {
  const init = await ensureInitialised(deps, workspace);
  if (init.ran && !init.ok) return failure("init", init.outputTail);

  const scratch = await newPlanScratch(workspace.plans);
  try {
    return await planInto(deps, workspace, targets, scratch.planPath);
  } finally {
    // Whatever happened, only a saved plan (moved out of here) outlives the call.
    await rm(scratch.dir, { recursive: true, force: true });
  }
}

async function planInto(
  deps: Pick<InfraDeps, "run" | "signal" | "progress" | "env" | "statefulTypes" | "now">,
  workspace: TerraformWorkspace,
  targets: readonly string[],
  written: string,
): Promise<PlanOutcome> {
  const terraform = deps.env.terraform;
  const plan = await runTerraform(deps, workspace, [
    "plan",
    "-input=false",
    "-no-color",
    `-out=${written}`,
    "-detailed-exitcode",
    `-lock-timeout=${terraform.lockTimeout}`,
    ...Object.entries(terraform.vars).map(([key, value]) => `-var=${key}=${value}`),
    ...targets.map((target) => `-target=${target}`),
  ]);
  if (plan.exitCode !== 0 && plan.exitCode !== 2) return failure("plan", plan.tail);

  const show = await runTerraform(deps, workspace, ["show", "-json", "-no-color", written]);
  if (show.exitCode !== 0) return failure("show", show.tail);
  const analysis = analysePlan(JSON.parse(show.stdout), deps.statefulTypes);
  if (plan.exitCode === 0) return { status: "no_changes", planDigest: "", planFile: null, ...analysis };
  const saved = await savePlan(workspace.plans, written, deps.now());
  return { status: "changes", ...saved, ...analysis };
}

function failure(phase: "init" | "plan" | "show", output: string): PlanOutcome {
  return {
    status: "error",
    phase,
    errors: errorLines(output),
    outputTail: output.slice(-FAILURE_TAIL_CHARS),
    lock: heldStateLock(output),
  };
}
