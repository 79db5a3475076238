import * as z from "zod";
import { confirmationOutputFields, envArg, INPUT_LIMITS, READ_ONLY, summaryField } from "./common.js";
import { defineTool } from "./definition.js";

const countsField = z.object({
  create: z.number(),
  update: z.number(),
  delete: z.number(),
  replace: z.number(),
});

/** Who holds the terraform state lock (untrusted text from the lock object). */
export const stateLockField = z
  .object({
    id: z.string().nullable(),
    path: z.string().nullable(),
    operation: z.string().nullable(),
    who: z.string().nullable(),
    version: z.string().nullable(),
    created: z.string().nullable(),
  })
  .describe("The holder of the terraform state lock, as terraform printed it (untrusted text).");

export const terraformErrorsField = z
  .array(z.string())
  .describe("Terraform's error lines (untrusted text, may quote configuration).");

export const terraformPlanTool = defineTool({
  name: "terraform_plan",
  title: "Terraform plan",
  description:
    "Runs terraform (or tofu) init when needed and plan for the env, saves the plan file, and reports counts, every change with its actions, and data-loss risks (delete/replace of stateful resources). Returns the planDigest that terraform_apply needs. Read-only in AWS (saves the plan file in a private folder outside the repo).",
  inputSchema: {
    env: envArg,
    targets: z
      .array(
        z
          .string()
          .min(1)
          .max(
            INPUT_LIMITS.terraformTargetChars,
            `a resource address has at most ${INPUT_LIMITS.terraformTargetChars} characters`,
          ),
      )
      .max(INPUT_LIMITS.terraformTargets, `at most ${INPUT_LIMITS.terraformTargets} targets per plan`)
      .optional()
      .describe("Resource addresses for -target."),
  },
  outputSchema: {
    summary: summaryField,
    status: z.enum(["no_changes", "changes", "error"]),
    planDigest: z.string(),
    counts: countsField,
    changes: z.array(
      z.object({
        address: z.string(),
        type: z.string(),
        actions: z.array(z.string()),
        actionReason: z.string().optional(),
        dataLossRisk: z.boolean(),
      }),
    ),
    ...confirmationOutputFields,
    dataLossRisks: z.array(z.string()).describe("Addresses whose delete/replace destroys data."),
    terraformVersion: z.string().describe("e.g. 'terraform 1.11.4'."),
    planFile: z
      .string()
      .optional()
      .describe(
        "The saved plan, in the user's private plan folder outside the repo; terraform_apply applies a copy of it only while its SHA-256 equals planDigest.",
      ),
    phase: z.enum(["init", "plan", "show"]).optional().describe("The step that failed."),
    errors: terraformErrorsField.optional(),
    lock: stateLockField.optional(),
    outputTail: z.string().optional().describe("End of terraform's output (untrusted text)."),
  },
  annotations: { ...READ_ONLY, idempotentHint: false },
  async handler(args, ctx) {
    // Lazy: keeps the infra modules out of the start-up import graph.
    const { resolveWorkspace } = await import("../infra/workspace.js");
    const { planInfrastructure } = await import("../infra/plan.js");
    const { describeCounts } = await import("../infra/plan-analysis.js");
    const { infraDepsOf } = await import("./flows/terraform-apply.js");
    const deps = infraDepsOf(ctx);
    const workspace = await resolveWorkspace(deps);
    const terraformVersion = `${workspace.binary.command} ${workspace.binary.version}`;
    const outcome = await planInfrastructure(deps, workspace, args.targets ?? []);
    if (outcome.status === "error") {
      const what = outcome.lock
        ? `the terraform state lock is held by another run (see lock; lock id ${outcome.lock.id ?? "unknown"}). Wait for it to finish; if it is stale, a person can release it with \`${workspace.binary.command} force-unlock <id>\` in ${ctx.env.terraform.dir}`
        : `terraform ${outcome.phase} failed (see errors); fix the cause and plan again`;
      return {
        summary: `No plan for ${ctx.envName}: ${what}.`,
        status: "error" as const,
        planDigest: "",
        counts: { create: 0, update: 0, delete: 0, replace: 0 },
        changes: [],
        dataLossRisks: [],
        terraformVersion,
        phase: outcome.phase,
        errors: outcome.errors,
        ...(outcome.lock ? { lock: outcome.lock } : {}),
        outputTail: outcome.outputTail,
      };
    }
    const base = {
      status: outcome.status,
      planDigest: outcome.planDigest,
      counts: outcome.counts,
      changes: outcome.changes,
      dataLossRisks: outcome.dataLossRisks,
      terraformVersion,
    };
    if (outcome.status === "no_changes") {
      return {
        ...base,
        summary: `No changes for ${ctx.envName}: the infrastructure matches the configuration.`,
      };
    }
    const risk =
      outcome.dataLossRisks.length > 0
        ? ` DATA-LOSS RISK: ${outcome.dataLossRisks.join(", ")} would be deleted or replaced; applying needs allowDataLoss: true.`
        : "";
    const planFile = outcome.planFile ?? undefined;
    if (!ctx.env.protected) {
      return {
        ...base,
        ...(planFile ? { planFile } : {}),
        summary: `Plan for ${ctx.envName}: ${describeCounts(outcome.counts)}.${risk} To apply it, call terraform_apply with this planDigest.`,
      };
    }
    const { issueConfirmationToken } = await import("../release/tokens.js");
    const token = await issueConfirmationToken(ctx, {
      tool: "terraform_apply",
      planDigest: outcome.planDigest,
    });
    return {
      ...base,
      ...(planFile ? { planFile } : {}),
      confirmationToken: token.confirmationToken,
      expiresAt: token.expiresAt,
      summary: `Plan for protected env ${ctx.envName}: ${describeCounts(outcome.counts)}.${risk} Show it to the user; only after they approve, call terraform_apply with this planDigest and confirmationToken (expires ${token.expiresAt}).`,
    };
  },
});
