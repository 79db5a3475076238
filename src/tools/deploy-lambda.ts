import * as z from "zod";
import { shownLambdaPlanSchema } from "../deploy/lambda/plan-schema.js";
import { canaryEvidenceSchema } from "../observe/canary-schema.js";
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
    "Packages the backend deterministically, skips the deploy when the live CodeSha256 already matches, otherwise uploads the zip, updates the function, verifies the code hash, publishes a version, moves the alias, runs the health gate and rolls back automatically on failure. With strategy canary (alias only) it first sends canaryPercent of the alias's traffic to the new version for bakeMinutes, compares its errors, timeouts and p95 from its own logs with the stable version's, then promotes it or removes its share. With wait: false (or a bake longer than release.canary.maxWaitMinutes) it answers once the release started; follow it with deploy_status {releaseId}. On protected envs the first call returns a plan and a confirmationToken.",
  inputSchema: {
    env: envArg,
    dryRun: dryRunArg,
    force: z
      .boolean()
      .default(false)
      .describe("Deploy even when the code is unchanged. Only when the user asked."),
    confirmationToken: confirmationTokenArg,
    breakLock: breakLockArg,
    strategy: z
      .enum(["all_at_once", "canary"])
      .default("all_at_once")
      .describe(
        "all_at_once: move the alias (or $LATEST) to the new code at once. canary (needs lambda.alias): a share of the alias first, judged against the stable version, then promoted or rolled back.",
      ),
    canaryPercent: z
      .number()
      .min(1, "canaryPercent is at least 1")
      .max(50, "canaryPercent is at most 50: a canary is a minority of the traffic")
      .optional()
      .describe(
        'Share of the alias\'s traffic the new version gets while it bakes (strategy "canary"; default 10).',
      ),
    bakeMinutes: z
      .number()
      .min(0.01, "bakeMinutes is at least 0.01")
      .max(60, "bakeMinutes is at most 60")
      .optional()
      .describe(
        'How long the canary is watched before it is promoted (strategy "canary"; default 5; fractions allowed).',
      ),
    wait: z
      .boolean()
      .default(true)
      .describe(
        "false: answer as soon as the release started (releaseId) and let it run on in the server; follow it with deploy_status {releaseId}. Not available from the CLI.",
      ),
  },
  outputSchema: {
    summary: summaryField,
    status: z
      .enum([
        "planned",
        "confirmation_required",
        "unchanged",
        "deployed",
        "rolled_back",
        "failed",
        "in_progress",
      ])
      .describe(
        "in_progress: the release started and runs on in the server after this answer (wait: false or a long bake); deploy_status {releaseId} reports its phase, figures and outcome.",
      ),
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
      .object({
        version: z.string(),
        codeSha256: z.string(),
        weights: z
          .record(z.string(), z.number())
          .optional()
          .describe(
            "The alias's weighted routing read back (version → share 0..1 besides `version`); shown for a canary, and whenever the alias splits its traffic. Empty: the alias serves `version` alone.",
          ),
      })
      .nullable()
      .optional()
      .describe("What serves now, read back from Lambda after the release."),
    canary: canaryEvidenceSchema
      .optional()
      .describe(
        "A canary's evidence: its figures and the stable version's over the same window, the health checks, the thresholds and the verdict (also in the release record).",
      ),
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
  // The backend's walk (local reads only) and the release code's import go ahead while the
  // env's protection is read — once its requests are out: they need the same clients, and the
  // walk is CPU work that would otherwise hold them back.
  prefetch: (_args, ctx) =>
    Promise.all([ctx.aws.lambda(), ctx.aws.s3()])
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => import("./flows/deploy-lambda.js"))
      .then(({ prefetchLambda }) => prefetchLambda(ctx))
      // Never fails: the deploy then walks (and reports) everything itself.
      .catch(() => null),
  async handler(args, ctx) {
    // Lazy: the release code pulls in the AWS SDK, which `tools/list` must not pay for.
    const { deployLambda } = await import("./flows/deploy-lambda.js");
    return deployLambda(ctx, {
      dryRun: args.dryRun,
      force: args.force,
      confirmationToken: args.confirmationToken,
      breakLock: args.breakLock,
      strategy: args.strategy,
      canaryPercent: args.canaryPercent,
      bakeMinutes: args.bakeMinutes,
      wait: args.wait,
    });
  },
});
