import { z } from "zod";
import { defineTool } from "../server/tool-definition.js";
import { envArg, notBuiltYet, READ_ONLY, summaryField } from "./common.js";

export const terraformPlanTool = defineTool({
  name: "terraform_plan",
  title: "Terraform plan",
  description:
    "Runs terraform (or tofu) init when needed and plan for the env, saves the plan file, and reports counts, every change with its actions, and data-loss risks (delete/replace of stateful resources). Returns the planDigest that terraform_apply needs. Read-only in AWS (writes a local plan file).",
  inputSchema: {
    env: envArg,
    targets: z.array(z.string().min(1)).optional().describe("Resource addresses for -target."),
  },
  outputSchema: {
    summary: summaryField,
    status: z.enum(["no_changes", "changes", "error"]),
    planDigest: z.string(),
    counts: z.object({ create: z.number(), update: z.number(), delete: z.number(), replace: z.number() }),
    changes: z.array(
      z.object({
        address: z.string(),
        type: z.string(),
        actions: z.array(z.string()),
        actionReason: z.string().optional(),
        dataLossRisk: z.boolean(),
      }),
    ),
    confirmationToken: z.string().optional(),
    expiresAt: z.string().optional(),
  },
  annotations: { ...READ_ONLY, idempotentHint: false },
  async handler() {
    return notBuiltYet("terraform_plan");
  },
});
