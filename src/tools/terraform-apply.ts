import { z } from "zod";
import {
  breakLockArg,
  confirmationOutputFields,
  confirmationTokenArg,
  DESTRUCTIVE,
  envArg,
  summaryField,
} from "./common.js";
import { defineTool } from "./definition.js";
import { stateLockField, terraformErrorsField } from "./terraform-plan.js";

const countsField = z.object({
  create: z.number(),
  update: z.number(),
  delete: z.number(),
  replace: z.number(),
});

export const terraformApplyTool = defineTool({
  name: "terraform_apply",
  title: "Terraform apply",
  description:
    "Applies exactly the saved plan whose planDigest was reviewed (from terraform_plan). A plan with data-loss risk also needs allowDataLoss. On protected envs the confirmationToken from terraform_plan is required.",
  inputSchema: {
    env: envArg,
    planDigest: z.string().regex(/^[0-9a-f]{64}$/, "a planDigest is the 64-hex SHA-256 from terraform_plan"),
    allowDataLoss: z
      .boolean()
      .default(false)
      .describe("Allow deleting/replacing stateful resources. Only when the user asked."),
    confirmationToken: confirmationTokenArg,
    breakLock: breakLockArg,
  },
  outputSchema: {
    summary: summaryField,
    status: z.enum(["confirmation_required", "applied", "failed"]),
    applied: countsField.optional(),
    releaseId: z.string().optional(),
    ...confirmationOutputFields,
    planDigest: z.string(),
    planned: countsField.describe("What the saved plan changes."),
    dataLossRisks: z.array(z.string()).describe("Addresses whose delete/replace destroys data."),
    terraformVersion: z.string(),
    stale: z
      .boolean()
      .optional()
      .describe("Terraform refused the plan: the state changed after it was made."),
    errors: terraformErrorsField.optional(),
    lock: stateLockField.optional(),
    outputTail: z.string().optional().describe("End of terraform's output (untrusted text)."),
  },
  annotations: DESTRUCTIVE,
  async handler(args, ctx) {
    // Lazy: keeps the infra and safety modules out of the start-up import graph.
    const { resolveWorkspace } = await import("../infra/workspace.js");
    const { applySavedPlan } = await import("../infra/apply.js");
    const { describeCounts } = await import("../infra/plan-analysis.js");
    const workspace = await resolveWorkspace(ctx);
    const outcome = await applySavedPlan(ctx, workspace, {
      planDigest: args.planDigest,
      allowDataLoss: args.allowDataLoss,
      confirmationToken: args.confirmationToken,
      breakLock: args.breakLock,
    });
    const base = {
      planDigest: args.planDigest,
      planned: outcome.plan.counts,
      dataLossRisks: outcome.plan.dataLossRisks,
      terraformVersion: `${workspace.binary.command} ${workspace.binary.version}`,
    };
    switch (outcome.status) {
      case "confirmation_required":
        return {
          ...base,
          status: outcome.status,
          confirmationToken: outcome.confirmationToken,
          expiresAt: outcome.expiresAt,
          summary: `Nothing applied: ${ctx.envName} is protected. The plan ${describeCounts(outcome.plan.counts)}. Show it to the user; only after they approve, call terraform_apply again with this planDigest and confirmationToken (expires ${outcome.expiresAt}).`,
        };
      case "applied":
        return {
          ...base,
          status: outcome.status,
          applied: outcome.applied,
          releaseId: outcome.releaseId,
          summary: `Applied the reviewed plan to ${ctx.envName}: ${describeCounts(outcome.applied)} (release ${outcome.releaseId}).`,
        };
      case "failed": {
        const why = outcome.stale
          ? "terraform refused the saved plan because it is stale (the state changed after the plan was made); nothing from it was applied. Run terraform_plan again, review the new plan and apply its planDigest"
          : outcome.lock
            ? `the terraform state lock is held by another run (see lock; lock id ${outcome.lock.id ?? "unknown"}); nothing was applied. Wait for it to finish and apply again`
            : "terraform apply failed part-way (see errors); some changes may have been made. Run terraform_plan to see what remains";
        return {
          ...base,
          status: outcome.status,
          releaseId: outcome.releaseId,
          stale: outcome.stale,
          errors: outcome.errors,
          ...(outcome.lock ? { lock: outcome.lock } : {}),
          outputTail: outcome.outputTail,
          summary: `Apply to ${ctx.envName} failed: ${why}.`,
        };
      }
    }
  },
});
