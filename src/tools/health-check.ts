import { z } from "zod";
import { type EnvConfig, type HealthTarget, healthTargetSchema } from "../config/schema.js";
import { DeployError } from "../core/errors.js";
import { lambdaHealthSchema, targetHealthSchema } from "../observe/health-schema.js";
import { envArg, READ_ONLY, summaryField } from "./common.js";
import { defineTool } from "./definition.js";

export const healthCheckTool = defineTool({
  name: "health_check",
  title: "Health check",
  description:
    "Calls the env's health endpoints (and the frontend URL) several times and reports status, latency p50/p95 and a verdict (healthy, degraded, unhealthy), plus the Lambda's State and LastUpdateStatus. Read-only.",
  inputSchema: {
    env: envArg,
    targets: z
      .array(z.string().min(1))
      .optional()
      .describe("Names of configured targets, or URLs; default all."),
    attempts: z.number().int().min(1).max(20).default(3).describe("Requests per target."),
  },
  outputSchema: {
    summary: summaryField,
    verdict: z.enum(["healthy", "degraded", "unhealthy"]),
    targets: z.array(targetHealthSchema),
    lambda: lambdaHealthSchema.nullable(),
  },
  annotations: READ_ONLY,
  async handler(args, ctx) {
    const targets = selectTargets(ctx.env, args.targets);
    // Lazy: the health module pulls in the Lambda client, which tools/list must not pay for.
    const { checkHealth } = await import("../observe/health.js");
    const report = await checkHealth({
      targets,
      attempts: args.attempts,
      signal: ctx.signal,
      lambda: {
        client: await ctx.aws.lambda(),
        functionName: ctx.env.lambda.functionName,
        ...(ctx.env.lambda.alias ? { qualifier: ctx.env.lambda.alias } : {}),
      },
      onProgress: (message) => ctx.progress(message),
    });
    return report;
  },
});

/** The env's configured targets plus the frontend URL; or the named ones / given URLs. */
export function selectTargets(env: EnvConfig, requested: string[] | undefined): HealthTarget[] {
  const configured = [...env.health];
  if (env.frontend.url && !configured.some((t) => t.name === "frontend")) {
    configured.push(healthTargetSchema.parse({ name: "frontend", url: env.frontend.url }));
  }
  if (!requested?.length) return configured;
  return requested.map((wanted) => {
    const byName = configured.find((t) => t.name === wanted || t.url === wanted);
    if (byName) return byName;
    if (/^https?:\/\//i.test(wanted) && URL.canParse(wanted)) {
      return healthTargetSchema.parse({ name: new URL(wanted).host, url: wanted });
    }
    const names = configured.map((t) => t.name).join(", ") || "none";
    throw new DeployError(
      "INPUT_INVALID",
      `targets: "${wanted.slice(0, 80)}" is neither a configured target (${names}) nor an http(s) URL.`,
    );
  });
}
