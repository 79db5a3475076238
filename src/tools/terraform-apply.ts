import * as z from "zod";
import {
  breakLockArg,
  confirmationOutputFields,
  confirmationTokenArg,
  DESTRUCTIVE,
  envArg,
  releaseFactsFields,
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
    planDigest: z
      .string()
      .length(64, "a planDigest is the 64-hex SHA-256 from terraform_plan")
      .regex(/^[0-9a-f]{64}$/, "a planDigest is the 64-hex SHA-256 from terraform_plan")
      .describe("The planDigest terraform_plan returned, unchanged."),
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
    warnings: releaseFactsFields.warnings,
    recovered: releaseFactsFields.recovered,
  },
  annotations: DESTRUCTIVE,
  isFailure: (out) => out.status === "failed",
  async handler(args, ctx) {
    // Lazy: keeps the infra and release modules out of the start-up import graph.
    const { terraformApply } = await import("./flows/terraform-apply.js");
    return terraformApply(ctx, {
      planDigest: args.planDigest,
      allowDataLoss: args.allowDataLoss,
      confirmationToken: args.confirmationToken,
      breakLock: args.breakLock,
    });
  },
});
