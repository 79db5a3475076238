import * as z from "zod";
import { healthVerdictSchema } from "./health-schema.js";

/**
 * A Lambda canary's evidence as zod shapes: what deploy_lambda's bake writes into the release
 * record as it goes (`evidence`), what deploy_lambda answers and what deploy_status reads back.
 * Only zod here: tools/list imports it without any AWS SDK client.
 *
 * Records are read back from S3, so anyone who can write there writes them: versions have the
 * shape Lambda gives them, counts are bounded numbers, and log text stays in its own fields.
 */

/** A published version number, or $LATEST. */
export const lambdaVersionSchema = z.string().regex(/^(\d{1,10}|\$LATEST)$/);

const count = z.number().int().min(0).max(1e12);
const percent = z.number().min(0).max(100);
const millis = z.number().min(0).max(1e9).nullable();

export const versionFiguresSchema = z.object({
  version: lambdaVersionSchema,
  invocations: count.describe(
    "REPORT lines of the version's log streams in the window: finished invocations.",
  ),
  errors: count.describe("Invocations (by request id) that logged ERROR or worse, timeouts not included."),
  timeouts: count,
  errorRatePercent: percent,
  timeoutRatePercent: percent,
  p50Ms: millis,
  p95Ms: millis,
  /** Log events of the version read (all levels). */
  scanned: count,
  /** True when more events existed than the scan bound: figures cover those read. */
  truncated: z.boolean(),
  errorGroups: z
    .array(
      z.object({
        message: z.string().max(400).describe("Untrusted log text (redacted, folded, bounded)."),
        count,
      }),
    )
    .max(3)
    .describe("The version's most frequent errors."),
});
export type VersionFigures = z.infer<typeof versionFiguresSchema>;

export const canaryThresholdsSchema = z.object({
  maxErrorRatePoints: z.number(),
  maxTimeoutRatePoints: z.number(),
  maxP95IncreasePercent: z.number(),
  minInvocations: z.number(),
});
export type CanaryThresholds = z.infer<typeof canaryThresholdsSchema>;

/**
 * baking: still watching; passed: promoted next; failed: a threshold or the health targets
 * said no; insufficient_traffic: too few invocations to judge (rolled back); cancelled: the
 * call was cancelled mid-bake (rolled back).
 */
export const canaryVerdictSchema = z.enum([
  "baking",
  "passed",
  "failed",
  "insufficient_traffic",
  "cancelled",
]);
export type CanaryVerdict = z.infer<typeof canaryVerdictSchema>;

export const canaryEvidenceSchema = z.object({
  kind: z.literal("lambda-canary"),
  canaryVersion: lambdaVersionSchema,
  stableVersion: lambdaVersionSchema,
  percent: z.number().min(0).max(100).describe("The share of the alias's traffic the canary got."),
  bakeSeconds: z.number().min(0).describe("How long the bake was planned to last."),
  startedAt: z.string().max(40).describe("When the weights were set (ISO time)."),
  updatedAt: z.string().max(40),
  elapsedSeconds: z.number().min(0),
  checks: count.describe("Log and health reads so far."),
  logGroup: z.string().max(600),
  canary: versionFiguresSchema,
  stable: versionFiguresSchema,
  health: z.object({
    checks: count,
    unhealthy: count,
    /** Consecutive unhealthy checks at the last read (two in a row roll the canary back). */
    consecutiveUnhealthy: count,
    last: healthVerdictSchema.nullable(),
  }),
  thresholds: canaryThresholdsSchema,
  verdict: canaryVerdictSchema,
  reasons: z
    .array(z.string().max(600))
    .max(10)
    .describe("Why the verdict is what it is, in the server's words (read back from the record: untrusted)."),
  logError: z.string().max(600).optional().describe("Why the last log read failed, if it did."),
});
export type CanaryEvidence = z.infer<typeof canaryEvidenceSchema>;
