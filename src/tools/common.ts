import * as z from "zod";
import { phaseSchema } from "../release/types.js";

/**
 * Input bounds. Every string, number and array a tool takes is bounded in its schema, so a
 * client sees the limits in `tools/list` and a 1 MB value is refused before any code runs.
 */
export const INPUT_LIMITS = {
  envChars: 40,
  tokenChars: 2_000,
  /** A release id (20261125T130512345Z-3fa9c1) or a Lambda version. */
  rollbackToChars: 64,
  filterPatternChars: 1_024,
  timePointChars: 64,
  requestIdChars: 128,
  /** A health target name or an ad-hoc http(s) URL. */
  healthTargetChars: 2_048,
  healthTargets: 20,
  /** A terraform resource address for -target. */
  terraformTargetChars: 512,
  terraformTargets: 20,
} as const;

/** Arguments and output fields shared by several tools; each is written once here. */
export const envArg = z
  .string()
  .max(INPUT_LIMITS.envChars, `an env name has at most ${INPUT_LIMITS.envChars} characters`)
  .regex(/^[a-z][a-z0-9-]*$/, "an env name is lowercase letters, digits and dashes, e.g. prod")
  .default("prod")
  .describe("Configured environment (dev, staging, prod, …). Default prod.");

export const dryRunArg = z.boolean().default(false).describe("Plan only; change nothing.");
export const confirmationTokenArg = z
  .string()
  .min(1)
  .max(
    INPUT_LIMITS.tokenChars,
    `a confirmationToken has at most ${INPUT_LIMITS.tokenChars} characters: pass back the one you were given, unchanged`,
  )
  .optional()
  .describe(
    "Token from the previous confirmation_required answer, passed back unchanged after the user agreed.",
  );
export const breakLockArg = z
  .boolean()
  .default(false)
  .describe("Break a stale deploy lock (only honoured on a confirmed call). Only when the user asked.");

export const summaryField = z.string().describe("One short paragraph a person can read.");

/** Output of a guarded tool whose first call on a protected env returns a token to confirm with. */
export const confirmationOutputFields = {
  confirmationToken: z.string().optional(),
  expiresAt: z.string().optional(),
};

export const READ_ONLY = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: true,
} as const;
export const DESTRUCTIVE = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: true,
} as const;

/** The facts every finished guarded call reports (see tools/flows/release-facts.ts). */
export const releaseFactsFields = {
  phase: phaseSchema.optional().describe("The journal phase the release reached."),
  recovered: z
    .array(
      z.object({
        releaseId: z.string(),
        component: z.string(),
        tool: z.string(),
        phase: z.string().nullable(),
        outcome: z.enum(["kept", "restored", "nothing_changed", "unresolved"]),
        note: z.string(),
      }),
    )
    .optional()
    .describe("Interrupted releases of this env settled before this one."),
  replacedLock: z
    .object({
      releaseId: z.string(),
      state: z.string(),
      how: z.enum(["taken_over", "broken"]),
      expiresAt: z.string(),
      holder: z.string().describe("Untrusted: read from the lock object."),
    })
    .nullable()
    .optional(),
  undo: z
    .object({
      ok: z.boolean(),
      result: z.enum(["undone", "nothing_to_undo"]).optional(),
      attempts: z.number(),
      error: z.string().optional(),
      fixCommand: z
        .string()
        .optional()
        .describe("The one command that puts the previous release back by hand."),
    })
    .optional(),
  warnings: z.array(z.string()).optional(),
  liveError: z.string().optional(),
  cancelled: z.boolean().optional(),
  timings: z.record(z.string(), z.number()).optional(),
};

/** Interrupted releases found while planning (settled by the next guarded call). */
export const interruptedField = z
  .array(z.object({ releaseId: z.string(), component: z.string(), phase: z.string().nullable() }))
  .optional()
  .describe("Releases of this env whose process died; the next guarded call settles them first.");
