import { z } from "zod";
import { shownLambdaPlanSchema } from "../deploy/lambda/plan-schema.js";
import { healthReportSchema } from "../observe/health-schema.js";
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
    plan: shownLambdaPlanSchema,
    ...confirmationOutputFields,
    codeSha256: z.string(),
    previousVersion: z
      .string()
      .nullable()
      .describe(
        "The published version the alias served before this call; null without an alias ($LATEST serves: see previousCodeSha256).",
      ),
    previousCodeSha256: z.string().describe("The CodeSha256 live before this call."),
    previousRelease: z
      .string()
      .nullable()
      .describe(
        "The successful release whose code was live before this call; null when none is recorded (a rollback without `to` then restores the code live before the first release).",
      ),
    version: z.string().optional(),
    releaseId: z.string().optional(),
    live: z
      .object({ version: z.string(), codeSha256: z.string() })
      .nullable()
      .optional()
      .describe("What serves now, read back from Lambda after the release."),
    health: healthReportSchema.optional().describe("The health gate's report."),
    failure: z.string().optional().describe("The step that failed and why (may quote AWS error text)."),
    blockedBy: z.string().optional().describe("Why the confirmed call would be refused now (tests first)."),
    interrupted: interruptedField,
    ...releaseFactsFields,
    errorLogs: z
      .array(
        z.object({
          timestamp: z.string(),
          level: z.string(),
          message: z.string().describe("Untrusted log text (redacted, bounded)."),
          requestId: z.string().nullable(),
        }),
      )
      .optional()
      .describe("ERROR log lines since the deploy began, for a rolled-back release."),
    errorLogsNote: z.string().optional(),
  },
  annotations: DESTRUCTIVE,
  isFailure: (out) => out.status === "failed" || out.status === "rolled_back",
  async handler(args, ctx) {
    // Lazy: the release code pulls in the AWS SDK, which `tools/list` must not pay for.
    const { deployLambda } = await import("./flows/deploy-lambda.js");
    return deployLambda(ctx, {
      dryRun: args.dryRun,
      force: args.force,
      confirmationToken: args.confirmationToken,
      breakLock: args.breakLock,
    });
  },
});
