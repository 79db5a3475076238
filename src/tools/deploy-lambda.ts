import { z } from "zod";
import { defineTool } from "../server/tool-definition.js";
import {
  breakLockArg,
  confirmationTokenArg,
  DESTRUCTIVE,
  dryRunArg,
  envArg,
  notBuiltYet,
  summaryField,
} from "./common.js";

export const deployLambdaTool = defineTool({
  name: "deploy_lambda",
  title: "Deploy the Lambda API",
  description:
    "Packages the backend deterministically, skips the deploy when the live CodeSha256 already matches, otherwise uploads the zip, updates the function, verifies the code hash, publishes a version, moves the alias, runs the health gate and rolls back automatically on failure. On protected envs the first call returns a plan and a confirmationToken.",
  inputSchema: {
    env: envArg,
    dryRun: dryRunArg,
    force: z
      .boolean()
      .default(false)
      .describe("Deploy even when the code is unchanged. Only when the user asked."),
    confirmationToken: confirmationTokenArg,
    breakLock: breakLockArg,
  },
  outputSchema: {
    summary: summaryField,
    status: z.enum(["planned", "confirmation_required", "unchanged", "deployed", "rolled_back", "failed"]),
    plan: z.record(z.string(), z.unknown()),
    confirmationToken: z.string().optional(),
    expiresAt: z.string().optional(),
    codeSha256: z.string(),
    previousVersion: z.string().optional(),
    version: z.string().optional(),
    releaseId: z.string().optional(),
    health: z.record(z.string(), z.unknown()).optional(),
  },
  annotations: DESTRUCTIVE,
  async handler() {
    return notBuiltYet("deploy_lambda");
  },
});
