import * as z from "zod";

/**
 * The health report as one zod schema: the type the health code returns, and the output schema
 * of every tool that shows one (health_check, deploy_lambda's gate, rollback).
 */
export const healthVerdictSchema = z.enum(["healthy", "degraded", "unhealthy"]);
export type HealthVerdict = z.infer<typeof healthVerdictSchema>;

export const targetHealthSchema = z.object({
  name: z.string(),
  url: z.string(),
  /** True only when every attempt passed and p95 stayed within slowMs. */
  ok: z.boolean(),
  verdict: healthVerdictSchema,
  /** Status of the last attempt that got an HTTP answer; null when none did. */
  status: z.number().nullable(),
  p50Ms: z.number().nullable(),
  p95Ms: z.number().nullable(),
  attempts: z.number(),
  passed: z.number(),
  error: z.string().optional().describe("May quote a short, redacted excerpt of an untrusted body."),
});
export type TargetHealth = z.infer<typeof targetHealthSchema>;

export const lambdaHealthSchema = z.object({
  state: z.string().nullable(),
  lastUpdateStatus: z.string().nullable(),
  error: z.string().optional(),
});
export type LambdaHealth = z.infer<typeof lambdaHealthSchema>;

export const healthReportSchema = z.object({
  verdict: healthVerdictSchema,
  targets: z.array(targetHealthSchema),
  lambda: lambdaHealthSchema.nullable(),
  summary: z.string(),
});
export type HealthReport = z.infer<typeof healthReportSchema>;
