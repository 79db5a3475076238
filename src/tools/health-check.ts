import { z } from "zod";
import { defineTool } from "../server/tool-definition.js";
import { envArg, notBuiltYet, READ_ONLY, summaryField } from "./common.js";

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
    targets: z.array(
      z.object({
        name: z.string(),
        url: z.string(),
        ok: z.boolean(),
        status: z.number().nullable(),
        p50Ms: z.number().nullable(),
        p95Ms: z.number().nullable(),
        error: z.string().optional(),
      }),
    ),
    lambda: z.object({ state: z.string().nullable(), lastUpdateStatus: z.string().nullable() }).nullable(),
  },
  annotations: READ_ONLY,
  async handler() {
    return notBuiltYet("health_check");
  },
});
