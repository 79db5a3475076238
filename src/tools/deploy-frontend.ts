import * as z from "zod";
import {
  frontendPlanSchema,
  integrityReportSchema,
  invalidationSchema,
} from "../deploy/frontend/plan-schema.js";
import {
  breakLockArg,
  confirmationOutputFields,
  confirmationTokenArg,
  DESTRUCTIVE,
  dryRunArg,
  envArg,
  interruptedField,
  releaseFactsFields,
  summaryField,
} from "./common.js";
import { defineTool } from "./definition.js";

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
    status: z.enum(["planned", "confirmation_required", "unchanged", "deployed", "rolled_back", "failed"]),
    plan: frontendPlanSchema,
    ...confirmationOutputFields,
    invalidation: invalidationSchema.optional(),
    releaseId: z.string().optional(),
    blockedBy: z.string().optional().describe("Why the confirmed call would be refused now (tests first)."),
    uploaded: z.object({ files: z.number(), bytes: z.number(), deleted: z.number() }).optional(),
    live: z
      .object({
        entryPoints: z.enum(["previous", "next", "mixed", "other"]),
        indexHtml: z.array(z.object({ bucket: z.string(), sha256: z.string().nullable() })),
      })
      .nullable()
      .optional()
      .describe("Read back after the release: whose entry points serve, and each bucket's index.html hash."),
    integrity: integrityReportSchema.optional(),
    failure: z.string().optional().describe("The step that failed and why (may quote AWS error text)."),
    interrupted: interruptedField,
    ...releaseFactsFields,
  },
  annotations: DESTRUCTIVE,
  isFailure: (out) => out.status === "failed" || out.status === "rolled_back",
  // Without a build, the listings and the release history go out while protection is read.
  prefetch: (args, ctx) =>
    args.skipBuild
      ? import("./flows/deploy-frontend.js")
          .then(({ prefetchFrontend }) => prefetchFrontend(ctx))
          // Never fails: the deploy then reads (and reports) everything itself.
          .catch(() => null)
      : undefined,
  async handler(args, ctx) {
    // Lazy: the release path pulls in the S3 and CloudFront clients, which tools/list must not pay for.
    const { deployFrontend } = await import("./flows/deploy-frontend.js");
    return deployFrontend(ctx, {
      dryRun: args.dryRun,
      skipBuild: args.skipBuild,
      prune: args.prune,
      wait: args.wait,
      confirmationToken: args.confirmationToken,
      breakLock: args.breakLock,
    });
  },
});
