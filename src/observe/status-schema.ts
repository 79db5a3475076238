import * as z from "zod";
import { componentSchema, phaseSchema, recoverySchema, releaseStatusSchema } from "../release/types.js";
import { canaryEvidenceSchema } from "./canary-schema.js";

/**
 * deploy_status's output, as zod shapes: the tool's outputSchema and the types readDeployStatus
 * returns are the same thing. Only zod here: tools/list imports this without any AWS SDK client.
 *
 * Fields marked "Untrusted" hold text read from S3 objects (lock holders, record callers and
 * errors); they stay in their own fields and are never copied into `summary` or `drift`.
 */

/**
 * How a component's live state compares with its release records:
 * - matches: live is what the newest finished release (succeeded, rolled_back, failed, recovered) left;
 * - drift: live differs from it, or no release explains it (see `drift`);
 * - in_progress: a running release (its deploy lock is live) is changing it, so it is not compared;
 * - interrupted: a release that died mid-way touched it; the next guarded call settles it first;
 * - nothing_deployed: nothing live and no release recorded.
 */
export const componentVerdictSchema = z
  .enum(["matches", "drift", "in_progress", "interrupted", "nothing_deployed"])
  .describe(
    "matches: live equals the newest finished release's record; drift: see drift[]; in_progress: a running release is changing it (not compared); interrupted: a release died mid-way on it (not compared; see interrupted[]); nothing_deployed: nothing live, nothing recorded.",
  );
export type ComponentVerdict = z.infer<typeof componentVerdictSchema>;

const openReleaseIdField = z
  .string()
  .nullable()
  .describe(
    "The in-progress or interrupted release touching this component (verdict in_progress/interrupted).",
  );

export const lambdaLiveSchema = z.object({
  functionName: z.string(),
  exists: z.boolean(),
  alias: z.string().nullable(),
  liveVersion: z
    .string()
    .nullable()
    .describe('The version the alias points at, or "$LATEST" without an alias.'),
  codeSha256: z.string().nullable(),
  lastModified: z.string().nullable(),
  state: z.string().nullable(),
  lastUpdateStatus: z.string().nullable(),
  matchedReleaseId: z
    .string()
    .nullable()
    .describe("Release whose recorded live code equals what is live now."),
  verdict: componentVerdictSchema,
  openReleaseId: openReleaseIdField,
  weights: z
    .record(z.string(), z.number())
    .optional()
    .describe(
      "Present when the alias splits its traffic: version → share (0..1) besides liveVersion (a canary baking, or left behind).",
    ),
  error: z.string().optional(),
});
export type LambdaLiveStatus = z.infer<typeof lambdaLiveSchema>;

export const frontendLiveSchema = z.object({
  bucket: z.string(),
  url: z.string().nullable(),
  indexHtmlPresent: z.boolean(),
  indexHtmlSha256: z.string().nullable().describe("SHA-256 (hex) of the live index.html content."),
  metadataSha256: z.string().nullable().describe("The sha256 metadata deploy_frontend stored with it."),
  lastModified: z.string().nullable(),
  matchedReleaseId: z.string().nullable(),
  verdict: componentVerdictSchema,
  openReleaseId: openReleaseIdField,
  error: z.string().optional(),
});
export type FrontendLiveStatus = z.infer<typeof frontendLiveSchema>;

export const releaseSummarySchema = z.object({
  component: componentSchema,
  releaseId: z.string(),
  tool: z.string(),
  status: releaseStatusSchema,
  phase: phaseSchema.nullable().describe("The journal phase the release reached (null: none recorded)."),
  who: z.string().nullable().describe("Untrusted: the caller ARN read from the record."),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  gitSha: z.string().nullable(),
  version: z.string().optional(),
  codeSha256: z.string().optional(),
  indexHtmlSha256: z.string().optional(),
  restoredFrom: z.string().optional(),
  deployRole: z
    .object({
      roleArn: z.string(),
      sessionName: z.string().describe("The role session: CloudTrail names every call of the release by it."),
      sourceIdentity: z
        .string()
        .describe("Untrusted: the person the role was assumed for, read from the record."),
      mfaSerial: z
        .string()
        .nullable()
        .describe("The MFA device whose code the person entered (never the code)."),
    })
    .optional()
    .describe("The deploy role the release ran as."),
  recovery: recoverySchema
    .extend({ note: z.string().describe("Untrusted: read from the record.") })
    .optional()
    .describe("How a later call settled this release after it was interrupted (status recovered)."),
  error: z.string().optional().describe("Untrusted: read from the record."),
});
export type ReleaseSummary = z.infer<typeof releaseSummarySchema>;

export const lockStatusSchema = z
  .object({
    state: z.enum(["live", "expired", "invalid"]),
    releaseId: z.string(),
    tool: z.string(),
    component: z.string().nullable(),
    startedAt: z.string(),
    expiresAt: z.string(),
    holder: z.string().describe("Untrusted: the holder written into the lock object."),
  })
  .nullable()
  .describe(
    "The env's deploy lock (locks/<env>.json), null when none. live: a release is running; expired/invalid: its deploy died and the next guarded call takes the lock over.",
  );
export type LockStatus = z.infer<typeof lockStatusSchema>;

export const interruptedReleaseSchema = z.object({
  releaseId: z.string(),
  component: componentSchema,
  tool: z.string(),
  phase: phaseSchema.nullable().describe("How far it got: before switching, nothing live was touched."),
  startedAt: z.string(),
  why: z
    .string()
    .describe("Why it counts as interrupted (its record says in_progress, no live lock names it)."),
  recoveryPlan: z
    .string()
    .nullable()
    .describe("Read from the record: what the next guarded call does to settle it."),
});
export type InterruptedReleaseStatus = z.infer<typeof interruptedReleaseSchema>;

/**
 * One release followed by id (deploy_status {releaseId}): where it is, what it has seen so far
 * and how it ended. Read from its record, so it works from any process, also after the one
 * running it died.
 */
export const releaseDetailSchema = z.object({
  releaseId: z.string(),
  component: componentSchema,
  tool: z.string(),
  status: releaseStatusSchema,
  phase: phaseSchema.nullable(),
  state: z
    .enum(["running", "interrupted", "finished"])
    .describe(
      "running: in_progress and a live deploy lock names it; interrupted: in_progress and nothing runs it any more (the next guarded call settles it); finished: it has a final status.",
    ),
  outcome: z
    .enum(["promoted", "succeeded", "rolled_back", "failed", "recovered"])
    .nullable()
    .describe(
      "null while it runs or is interrupted; promoted: a canary passed and the alias serves it alone; rolled_back: it was undone (a canary's share removed); recovered: a later call settled it (see recovery).",
    ),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  journal: z.array(z.object({ phase: phaseSchema, at: z.string() })),
  version: z.string().optional().describe("What the release left live (after.version)."),
  codeSha256: z.string().optional(),
  canary: canaryEvidenceSchema
    .optional()
    .describe("A canary's figures so far (written as the bake goes) or final, read from the record."),
  recovery: recoverySchema
    .extend({ note: z.string().describe("Untrusted: read from the record.") })
    .optional(),
  error: z.string().optional().describe("Untrusted: read from the record."),
});
export type ReleaseDetail = z.infer<typeof releaseDetailSchema>;

export const deployStatusOutputFields = {
  lambda: lambdaLiveSchema,
  frontend: frontendLiveSchema,
  releases: z.array(releaseSummarySchema).describe("The last releases of lambda and frontend, newest first."),
  drift: z
    .array(z.string())
    .describe(
      "Live state that the newest finished release does not explain (a component with a release in progress or interrupted is not compared).",
    ),
  lock: lockStatusSchema,
  interrupted: z
    .array(interruptedReleaseSchema)
    .describe(
      "Releases whose process died (record in_progress, no live lock names them); what is live is in lambda/frontend.",
    ),
  release: releaseDetailSchema
    .optional()
    .describe("The release asked for with releaseId: its phase, a canary's figures so far, its outcome."),
};
