import * as z from "zod";
import { CONFIG_FILE_NAME } from "../config/load.js";
import { type EnvConfig, type HealthTarget, healthTargetSchema } from "../config/schema.js";
import { DeployError } from "../core/errors.js";
import { quote } from "../core/quote.js";
import { lambdaHealthSchema, targetHealthSchema } from "../observe/health-schema.js";
import { envArg, INPUT_LIMITS, READ_ONLY, summaryField } from "./common.js";
import { defineTool } from "./definition.js";

export const healthCheckTool = defineTool({
  name: "health_check",
  title: "Health check",
  description:
    "Calls the env's health endpoints (and the frontend URL) several times and reports status, latency p50/p95 and a verdict (healthy, degraded, unhealthy), plus the Lambda's State and LastUpdateStatus. Read-only.",
  inputSchema: {
    env: envArg,
    targets: z
      .array(
        z
          .string()
          .min(1)
          .max(
            INPUT_LIMITS.healthTargetChars,
            `a target is a configured name or a URL of at most ${INPUT_LIMITS.healthTargetChars} characters`,
          ),
      )
      .max(INPUT_LIMITS.healthTargets, `at most ${INPUT_LIMITS.healthTargets} targets per call`)
      .optional()
      .describe(
        "Names of configured targets, or http(s) URLs on the hosts of the configured targets (any host only with allowAnyHost in the config); default all.",
      ),
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
    const targets = selectTargets(ctx.env, args.targets, {
      envName: ctx.envName,
      allowAnyHost: ctx.config.allowAnyHost,
    });
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

export interface SelectTargetsOptions {
  /** Names the env in error messages (the config key to add a target under). */
  envName?: string;
  /** Config `allowAnyHost`: ad-hoc URLs on any host. */
  allowAnyHost?: boolean;
}

/**
 * The env's configured targets plus the frontend URL; or the named ones / given URLs.
 * Safety: an ad-hoc URL makes this server send requests where a caller says, also on a
 * read-only server, so it must be on a host the config already names (a health target's or
 * the frontend url's) unless the config sets `allowAnyHost`, and a call takes at most
 * INPUT_LIMITS.healthTargets of them.
 */
export function selectTargets(
  env: EnvConfig,
  requested: string[] | undefined,
  options: SelectTargetsOptions = {},
): HealthTarget[] {
  const configured = [...env.health];
  if (env.frontend.url && !configured.some((t) => t.name === "frontend")) {
    configured.push(healthTargetSchema.parse({ name: "frontend", url: env.frontend.url }));
  }
  if (!requested?.length) return configured;
  if (requested.length > INPUT_LIMITS.healthTargets) {
    throw new DeployError(
      "INPUT_INVALID",
      `targets: ${requested.length} targets given; at most ${INPUT_LIMITS.healthTargets} per call.`,
    );
  }
  const allowedHosts = new Set(configured.flatMap((t) => hostnameOf(t.url) ?? []));
  return requested.map((wanted, index) => {
    const byName = configured.find((t) => t.name === wanted || t.url === wanted);
    if (byName) return byName;
    if (/^https?:\/\//i.test(wanted) && URL.canParse(wanted)) {
      const url = new URL(wanted);
      if (!options.allowAnyHost && !allowedHosts.has(url.hostname)) {
        const envKey = `environments.${options.envName ?? "<env>"}`;
        const hosts = [...allowedHosts].join(", ") || "none";
        throw new DeployError(
          "INPUT_INVALID",
          `targets: host "${quote(url.hostname)}" is not a host of this env's health targets or frontend url (${hosts}). Add it as a health target under ${envKey}.health in ${CONFIG_FILE_NAME}, or set "allowAnyHost": true there to allow ad-hoc URLs on any host. Nothing was called.`,
        );
      }
      // Safety: the host is the caller's text (often pasted from a page): the target is named
      // by its position, so the summary never quotes it; its url field keeps it.
      const adHoc = healthTargetSchema.safeParse({ name: `ad-hoc-${index + 1}`, url: wanted });
      if (adHoc.success) return adHoc.data;
    }
    const names = configured.map((t) => t.name).join(", ") || "none";
    throw new DeployError(
      "INPUT_INVALID",
      `targets: "${quote(wanted)}" is neither a configured target (${names}) nor an http(s) URL.`,
    );
  });
}

function hostnameOf(url: string): string | null {
  return URL.canParse(url) ? new URL(url).hostname : null;
}
