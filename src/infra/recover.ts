import type { RecoveryIo, RecoveryResult } from "../release/spec.js";
import { type Phase, phaseSchema, type ReleaseRecord } from "../release/types.js";

/** terraform apply runs in this phase: from here on the state may hold some of the plan. */
const APPLY_PHASE: Phase = "switching";

function applyMayHaveStarted(phase: Phase): boolean {
  return phaseSchema.options.indexOf(phase) >= phaseSchema.options.indexOf(APPLY_PHASE);
}

/** What the next guarded call does with an apply found interrupted in `phase` (the record's recoveryPlan). */
export function infraRecoveryPlan(envName: string, phase: Phase): string {
  if (!applyMayHaveStarted(phase)) {
    return `terraform apply has not started: the next guarded call in ${envName} settles this release as nothing changed.`;
  }
  return `terraform apply may have run part-way and cannot be undone automatically: the next guarded call in ${envName} settles this release as unresolved. Run terraform_plan for ${envName} to see what the state holds now (a terraform state lock left behind is reported there), then review and apply a new plan.`;
}

/**
 * Settles a terraform_apply release whose process died. Before the apply step was journalled
 * nothing ran; after it, terraform may have applied some, all or none of the plan, and an
 * apply has no automatic way back: the record is settled as unresolved with what to do next.
 * Terraform itself knows the truth (its state, and a state lock it may have left), and
 * terraform_plan reports both, so nothing here calls AWS.
 */
export async function recoverInfraRelease(record: ReleaseRecord, _io: RecoveryIo): Promise<RecoveryResult> {
  // The record comes back from S3: only a well-formed digest is repeated in the note.
  const plan = /^[0-9a-f]{64}$/.test(record.planDigest) ? `plan ${record.planDigest}` : "its plan";
  const env = /^[a-z][a-z0-9-]*$/.test(record.env) ? record.env : "this env";
  if (record.phase !== undefined && !applyMayHaveStarted(record.phase)) {
    return {
      outcome: "nothing_changed",
      note: `The terraform apply of ${plan} stopped in phase ${record.phase}, before terraform apply started; nothing was applied.`,
    };
  }
  return {
    outcome: "unresolved",
    note: `The terraform apply of ${plan} was interrupted in phase ${record.phase ?? "unknown"}: terraform may have applied some, all or none of its changes, and an apply cannot be undone automatically. Run terraform_plan for ${env} to see what the state holds now (a terraform state lock left behind is reported there as lock), then review and apply a new plan.`,
  };
}
