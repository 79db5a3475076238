import * as z from "zod";

/**
 * The Lambda deploy and rollback plans as zod schemas: their types, and the output schemas of
 * the tools that show them. Only zod here, so tool definitions can import it without the SDK.
 */

/** How the code live before the deploy is restored if the deploy fails its checks. */
export const lambdaRollbackPathSchema = z.discriminatedUnion("mode", [
  z.object({ mode: z.literal("alias"), version: z.string() }),
  z.object({ mode: z.literal("artifact"), artifactKey: z.string(), saveFromLambda: z.boolean() }),
]);

/**
 * A canary (strategy "canary", alias mode only): publish the new version, send `percent` of
 * the alias's traffic to it for `bakeMinutes`, judge it against the stable version with
 * these thresholds, then promote it or remove its share. Part of the plan, so the person
 * approves the share, the bake and the bar it must clear.
 */
export const lambdaCanaryPlanSchema = z.object({
  percent: z.number().describe("Share of the alias's traffic the new version gets while it bakes."),
  bakeMinutes: z.number(),
  thresholds: z.object({
    maxErrorRatePoints: z.number(),
    maxTimeoutRatePoints: z.number(),
    maxP95IncreasePercent: z.number(),
    minInvocations: z.number(),
  }),
});

/**
 * The canonical, timestamp-free plan a confirmation token confirms: planning the same tree
 * against the same live state twice gives the same digest.
 */
export const lambdaDeployPlanSchema = z.object({
  component: z.literal("lambda"),
  functionName: z.string(),
  alias: z.string().nullable(),
  fromVersion: z.string(),
  fromCodeSha256: z.string(),
  codeSha256: z.string(),
  artifactBucket: z.string(),
  artifactKey: z.string(),
  files: z.number(),
  bytes: z.number(),
  unzippedBytes: z.number(),
  treeDigest: z
    .string()
    .describe(
      "SHA-256 over git HEAD and every packaged file (zip path, content SHA-256, mode): the tree this plan deploys.",
    ),
  fileChanges: z.object({
    added: z.number(),
    removed: z.number(),
    changed: z.number(),
    comparedWith: z.string().nullable(),
  }),
  /** Null when nothing will change (unchanged code, no force). */
  rollback: lambdaRollbackPathSchema.nullable(),
  force: z.boolean(),
  /** Only for strategy "canary" (absent otherwise, so an all-at-once plan's digest is as before). */
  canary: lambdaCanaryPlanSchema.optional(),
});

/** What the tool shows next to the plan (not part of the digest). */
export const lambdaPlanDetailsSchema = z.object({
  unchanged: z.boolean(),
  uploadNeeded: z.boolean(),
  added: z.array(z.string()).describe("File names from the repo (first 50)."),
  removed: z.array(z.string()),
  changed: z.array(z.string()),
});

export const shownLambdaPlanSchema = lambdaDeployPlanSchema.extend(lambdaPlanDetailsSchema.shape);

/** Canonical, timestamp-free: the digest a rollback's confirmation token confirms. */
export const lambdaRollbackPlanSchema = z.object({
  component: z.literal("lambda"),
  action: z.literal("rollback"),
  functionName: z.string(),
  alias: z.string().nullable(),
  mode: z.enum(["alias", "artifact"]),
  fromVersion: z.string(),
  fromCodeSha256: z.string(),
  toReleaseId: z.string().nullable(),
  toLiveBefore: z
    .string()
    .nullable()
    .describe(
      "Set when the target is the code live before this release (e.g. before the first release made by this tool).",
    ),
  toVersion: z.string().nullable(),
  toCodeSha256: z.string(),
  artifactKey: z.string().nullable(),
});
