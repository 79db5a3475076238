import { z } from "zod";
import {
  breakLockArg,
  confirmationOutputFields,
  confirmationTokenArg,
  DESTRUCTIVE,
  dryRunArg,
  envArg,
  summaryField,
} from "./common.js";
import { defineTool } from "./definition.js";

export const rollbackTool = defineTool({
  name: "rollback",
  title: "Roll back a component",
  description:
    "Rolls the Lambda back to the previous (or a named) release or version, or the frontend back to the previous (or a named) release's files, then checks health. On protected envs the first call returns a plan and a confirmationToken.",
  inputSchema: {
    env: envArg,
    component: z.enum(["lambda", "frontend"]),
    to: z.string().min(1).optional().describe("Release id or Lambda version; default the previous release."),
    dryRun: dryRunArg,
    confirmationToken: confirmationTokenArg,
    breakLock: breakLockArg,
  },
  outputSchema: {
    summary: summaryField,
    status: z.enum(["planned", "confirmation_required", "rolled_back", "unchanged", "failed"]),
    from: z.string().nullable(),
    to: z.string().nullable(),
    releaseId: z.string().optional(),
    ...confirmationOutputFields,
    health: z.record(z.string(), z.unknown()).optional(),
    plan: z.record(z.string(), z.unknown()).optional(),
  },
  annotations: DESTRUCTIVE,
  async handler(args, ctx) {
    const request = {
      to: args.to,
      dryRun: args.dryRun,
      confirmationToken: args.confirmationToken,
      breakLock: args.breakLock,
    };
    // Lazy: the rollback code pulls in the AWS SDK, which `tools/list` must not pay for.
    if (args.component === "frontend") {
      const { rollbackFrontend } = await import("../deploy/frontend/rollback.js");
      return rollbackFrontend(ctx, request);
    }
    const { rollbackLambda } = await import("../deploy/lambda/rollback.js");
    return rollbackLambda(ctx, request);
  },
});
