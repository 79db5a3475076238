import { z } from "zod";

/** Arguments and output fields shared by several tools; each is written once here. */
export const envArg = z
  .string()
  .regex(/^[a-z][a-z0-9-]*$/, "an env name is lowercase letters, digits and dashes, e.g. prod")
  .default("prod")
  .describe("Configured environment (dev, staging, prod, …). Default prod.");

export const dryRunArg = z.boolean().default(false).describe("Plan only; change nothing.");
export const confirmationTokenArg = z
  .string()
  .min(1)
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
