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

export const deployFrontendTool = defineTool({
  name: "deploy_frontend",
  title: "Deploy the PWA frontend",
  description:
    "Builds the PWA (unless skipBuild), diffs dist/ against the bucket by content hash, uploads changed assets first and entry points last with correct Content-Type and Cache-Control, keeps stale files for a grace period, invalidates only changed paths in CloudFront and checks that every asset index.html references exists. On protected envs the first call returns a plan and a confirmationToken.",
  inputSchema: {
    env: envArg,
    dryRun: dryRunArg,
    skipBuild: z.boolean().default(false).describe("Deploy the existing dist/ without building."),
    prune: z
      .boolean()
      .default(false)
      .describe("Delete stale files now instead of after the grace period. Only when the user asked."),
    wait: z.boolean().default(false).describe("Wait for the CloudFront invalidation to complete."),
    confirmationToken: confirmationTokenArg,
    breakLock: breakLockArg,
  },
  outputSchema: {
    summary: summaryField,
    status: z.enum(["planned", "confirmation_required", "unchanged", "deployed", "failed"]),
    plan: z.object({
      upload: z.number(),
      unchanged: z.number(),
      delete: z.number(),
      bytes: z.number(),
      uploadFiles: z.array(z.string()),
      deleteFiles: z.array(z.string()),
    }),
    confirmationToken: z.string().optional(),
    expiresAt: z.string().optional(),
    invalidation: z.object({ id: z.string(), paths: z.array(z.string()), status: z.string() }).optional(),
    releaseId: z.string().optional(),
  },
  annotations: DESTRUCTIVE,
  async handler() {
    return notBuiltYet("deploy_frontend");
  },
});
