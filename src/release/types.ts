import * as z from "zod";

/**
 * The release record and its journal: releases/<env>/<component>/<releaseId>.json in the env's
 * artifact bucket. One zod schema is the type, the parser of what is read back from S3, and
 * the output schema of the tools that show records.
 */
export const componentSchema = z.enum(["lambda", "frontend", "infra"]);
export type Component = z.infer<typeof componentSchema>;

/**
 * `in_progress` until the flow finishes; `recovered` when a later call found the release
 * interrupted (its process died) and settled it. "interrupted" itself is never stored: it is
 * an in_progress record whose lock is gone, expired or someone else's.
 */
export const releaseStatusSchema = z.enum(["in_progress", "succeeded", "failed", "rolled_back", "recovered"]);
export type ReleaseStatus = z.infer<typeof releaseStatusSchema>;
export type FinalStatus = Exclude<ReleaseStatus, "in_progress">;

/**
 * Journal phases, in order. Each is written before the step that enters it, so a record found
 * in a phase says how far a dead release may have got: before `switching` nothing live was
 * touched; from `switching` on, live state may be the new release, the old one, or a mix.
 * `baking`: the new release serves a share of the traffic while it is watched (a canary).
 */
export const phaseSchema = z.enum([
  "locked",
  "preparing",
  "uploading",
  "switching",
  "switched",
  "baking",
  "verifying",
  "undoing",
  "finishing",
]);
export type Phase = z.infer<typeof phaseSchema>;

const json = z.record(z.string(), z.unknown());

/**
 * Release ids look like 20261125T130512345Z-3fa9c1 (to the millisecond): lexical order is
 * time order, which listings rely on when they keep only the newest N keys. Ids of the
 * earlier second-precision form (20261125T130512Z-3fa9c1) are still read.
 */
export const RELEASE_ID = /^\d{8}T\d{6}(\d{3})?Z-[0-9a-f]{6}$/;

/*
 * Records are read back from S3, so anyone who can write there writes them. The fields that
 * messages and summaries quote must have the shape the server writes; free text (who, error,
 * warnings, notes, plans) is data only.
 */
const releaseIdSchema = z.string().regex(RELEASE_ID);
const envNameSchema = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);
const toolNameSchema = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/);

export const recoverySchema = z.object({
  /** kept: the new release passed its checks and stays; restored: the previous one is back. */
  outcome: z.enum(["kept", "restored", "nothing_changed", "unresolved"]),
  /** The release (of any component) whose call recovered this one. */
  by: z.string(),
  at: z.string(),
  /** What was found and done, in the server's own words. */
  note: z.string(),
});
export type Recovery = z.infer<typeof recoverySchema>;

export const releaseRecordSchema = z.object({
  releaseId: releaseIdSchema,
  env: envNameSchema,
  component: componentSchema,
  /** Tool that made it: deploy_lambda, deploy_frontend, terraform_apply, rollback. */
  tool: toolNameSchema,
  status: releaseStatusSchema,
  /** STS caller ARN (outside text: never copied into a summary). */
  who: z.string().nullable(),
  gitSha: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  planDigest: z.string(),
  /** The journal: the phase reached and when each was entered. */
  phase: phaseSchema.optional(),
  journal: z.array(z.object({ phase: phaseSchema, at: z.string() })).default([]),
  /** What the next guarded call does if this release is found interrupted in its phase. */
  recoveryPlan: z.string().optional(),
  /** Component-specific facts a recovery needs (parsed by the component's own schema). */
  recoveryFacts: json.optional(),
  recovery: recoverySchema.optional(),
  artifacts: json.default({}),
  /** Live state before and after, e.g. { version, codeSha256 } or { indexHtmlSha256 }. */
  before: json.default({}),
  after: json.default({}),
  /** Frontend: key → file facts; lambda: zip entry → sha256 (for "what changed"). */
  manifest: json.optional(),
  health: z.unknown().optional(),
  /**
   * What the release observed while it ran, written as it goes (a Lambda canary's figures per
   * version); parsed by the component's own schema. May hold redacted log text.
   */
  evidence: json.optional(),
  /** Step name → milliseconds. */
  timings: z.record(z.string(), z.number()).default({}),
  error: z.string().optional(),
  warnings: z.array(z.string()).optional(),
  /** For a rollback: the release id (or version) it restored. */
  restoredFrom: z.string().optional(),
  /**
   * The deploy role the release ran as: its session (= the release id, what CloudTrail shows),
   * the person's SourceIdentity and the MFA device used (never the code).
   */
  deployRole: z
    .object({
      roleArn: z.string().max(600),
      sessionName: z.string().max(64),
      sourceIdentity: z.string().max(64),
      mfaSerial: z.string().max(300).nullable(),
    })
    .strict()
    .optional(),
});
export type ReleaseRecord = z.infer<typeof releaseRecordSchema>;
