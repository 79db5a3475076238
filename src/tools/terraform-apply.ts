import { z } from "zod";
import { defineTool } from "../server/tool-definition.js";
import {
  breakLockArg,
  confirmationTokenArg,
  DESTRUCTIVE,
  envArg,
  notBuiltYet,
  summaryField,
} from "./common.js";

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
    applied: z
      .object({ create: z.number(), update: z.number(), delete: z.number(), replace: z.number() })
      .optional(),
    releaseId: z.string().optional(),
    confirmationToken: z.string().optional(),
    expiresAt: z.string().optional(),
  },
  annotations: DESTRUCTIVE,
  async handler() {
    return notBuiltYet("terraform_apply");
  },
});
