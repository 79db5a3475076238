import * as z from "zod";
import {
  frontendPlanSchema,
  integrityReportSchema,
  invalidationSchema,
} from "../deploy/frontend/plan-schema.js";
import { lambdaRollbackPlanSchema } from "../deploy/lambda/plan-schema.js";
import { healthReportSchema } from "../observe/health-schema.js";
import {
  breakLockArg,
  confirmationOutputFields,
  confirmationTokenArg,
  DESTRUCTIVE,
  dryRunArg,
  envArg,
  INPUT_LIMITS,
  releaseFactsFields,
  summaryField,
} from "./common.js";
import { defineTool } from "./definition.js";

/** A release id (what deploy_status lists) or a Lambda version number (12, v12, version 12). */
const ROLLBACK_TO = /^(?:\d{8}T\d{6}(?:\d{3})?Z-[0-9a-f]{6}|(?:[Vv](?:ersion ?)?)?\d{1,10})$/;
const ROLLBACK_TO_MESSAGE =
  '"to" must be a release id (e.g. 20261125T130512345Z-3fa9c1) or a Lambda version number (e.g. 12)';

export const rollbackTool = defineTool({
  name: "rollback",
  title: "Roll back a component",
  description:
    "Rolls the Lambda back to the previous (or a named) release or version, or the frontend back to the previous (or a named) release's files, then checks health. On protected envs the first call returns a plan and a confirmationToken.",
  inputSchema: {
    env: envArg,
    component: z.enum(["lambda", "frontend"]),
    to: z
      .string()
      .min(1)
      .max(INPUT_LIMITS.rollbackToChars, ROLLBACK_TO_MESSAGE)
      .regex(ROLLBACK_TO, ROLLBACK_TO_MESSAGE)
      .optional()
      .describe(
        "Release id (e.g. 20261125T130512345Z-3fa9c1) or Lambda version (e.g. 12); default the previous release.",
      ),
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
    health: z
      .union([
        healthReportSchema,
        z.object({
          integrity: integrityReportSchema.nullable(),
          invalidation: invalidationSchema.nullable(),
        }),
      ])
      .optional()
      .describe(
        "Lambda: the health check after the rollback; frontend: the integrity check and invalidation.",
      ),
    plan: z.union([lambdaRollbackPlanSchema, frontendPlanSchema]).optional(),
    live: z
      .record(z.string(), z.unknown())
      .nullable()
      .optional()
      .describe("What serves now, read back after the rollback."),
    failure: z.string().optional().describe("The step that failed and why (may quote AWS error text)."),
    ...releaseFactsFields,
  },
  annotations: DESTRUCTIVE,
  isFailure: (out) => out.status === "failed",
  async handler(args, ctx) {
    // Lazy: the rollback code pulls in the AWS SDK, which `tools/list` must not pay for.
    const { rollback } = await import("./flows/rollback.js");
    return rollback(ctx, {
      component: args.component,
      to: args.to,
      dryRun: args.dryRun,
      confirmationToken: args.confirmationToken,
      breakLock: args.breakLock,
    });
  },
});
