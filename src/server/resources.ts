import { type McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { Variables } from "@modelcontextprotocol/sdk/shared/uriTemplate.js";
import {
  ErrorCode,
  type ReadResourceResult,
  type Resource,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import type { EnvConfig } from "../config/schema.js";
import { quote } from "../core/quote.js";
import { redactDeep, redactText } from "../core/redact.js";
import { reportKeys } from "../release/report-keys.js";
import { type Component, componentSchema, RELEASE_ID } from "../release/types.js";
import { deployStatusTool } from "../tools/deploy-status.js";
import { errorResult, invokeTool } from "./invoke.js";
import type { Runtime } from "./runtime.js";

/**
 * The MCP resources, all read-only (listed in read-only mode too):
 * - `vyaparai-deploy://{env}/status`: the deploy_status answer for the env, computed by the
 *   tool itself through invokeTool, so it is identical to a deploy_status call;
 * - `vyaparai-deploy://{env}/releases/{component}/{releaseId}`: a release record;
 * - `vyaparai-deploy://{env}/releases/{component}/{releaseId}/report`: its stored Markdown report.
 * Every body is redacted; outside text (record callers, errors, log lines) stays in the body,
 * never in a resource's name or title.
 */

export const RESOURCE_SCHEME = "vyaparai-deploy";
/** The MCP spec's error code for a resource that does not exist. */
export const RESOURCE_NOT_FOUND = -32002;
/** Releases listed per env and component (listReleaseRecords' own default). */
const LISTED_RELEASES = 20;
const COMPONENTS = componentSchema.options;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export function statusUri(env: string): string {
  return `${RESOURCE_SCHEME}://${env}/status`;
}

export function releaseUri(env: string, component: string, releaseId: string): string {
  return `${RESOURCE_SCHEME}://${env}/releases/${component}/${releaseId}`;
}

export function reportUri(env: string, component: string, releaseId: string): string {
  return `${releaseUri(env, component, releaseId)}/report`;
}

export function registerResources(server: McpServer, runtime: Runtime): void {
  const envNames = () => (runtime.configError ? [] : Object.keys(runtime.loaded.config.environments).sort());

  server.registerResource(
    "status",
    new ResourceTemplate(statusUri("{env}"), {
      list: () => ({
        resources: envNames().map(
          (env): Resource => ({
            uri: statusUri(env),
            name: `${env}/status`,
            title: `Live deploy status of ${env}`,
            mimeType: "application/json",
          }),
        ),
      }),
    }),
    {
      title: "Live deploy status",
      description:
        "What is live per component in the env, its last releases, lock, interrupted releases and drift: the deploy_status answer as JSON.",
      mimeType: "application/json",
    },
    async (uri, variables, extra) => {
      const env = envOf(runtime, variables);
      const result = await invokeTool(deployStatusTool, { env }, runtime, { signal: extra.signal });
      if (!result.complete) throw protocolError(ErrorCode.InternalError, result.text);
      return jsonBody(uri, result.structured);
    },
  );

  server.registerResource(
    "release",
    new ResourceTemplate(releaseUri("{env}", "{component}", "{releaseId}"), {
      list: (extra) => listReleases(runtime, envNames(), extra),
    }),
    {
      title: "Release record",
      description:
        "One release record (plan, artifacts, before and after, journal, health, who) as JSON; the newest 20 per env and component are listed.",
      mimeType: "application/json",
    },
    async (uri, variables) => {
      const { env, envConfig, component, releaseId } = releaseOf(runtime, variables);
      const bucket = envConfig.lambda.artifactBucket;
      const record = await aws(async () => {
        const { loadReleaseRecord } = await import("../release/records.js");
        return loadReleaseRecord(await runtime.clientsFor(env).s3(), bucket, env, component, releaseId);
      });
      if (!record) {
        throw protocolError(
          RESOURCE_NOT_FOUND,
          `No ${component} release ${releaseId} in ${env} (s3://${bucket}/releases/${env}/${component}/${releaseId}.json). List the releases with resources/list or read ${statusUri(env)}.`,
        );
      }
      return jsonBody(uri, record);
    },
  );

  server.registerResource(
    "release-report",
    new ResourceTemplate(reportUri("{env}", "{component}", "{releaseId}"), {
      // A report exists only for releases that stored one; reach it from a listed record.
      list: undefined,
    }),
    {
      title: "Release report",
      description: "The Markdown report stored beside a release record, when the release stored one.",
      mimeType: "text/markdown",
    },
    async (uri, variables) => {
      const { env, envConfig, component, releaseId } = releaseOf(runtime, variables);
      const bucket = envConfig.lambda.artifactBucket;
      const markdown = await aws(async () => {
        const { readStoredReport } = await import("../release/report-store.js");
        const s3 = await runtime.clientsFor(env).s3();
        return readStoredReport(s3, bucket, { env, component, releaseId }, "markdown");
      });
      if (markdown === null) {
        throw protocolError(
          RESOURCE_NOT_FOUND,
          `No stored report for ${component} release ${releaseId} in ${env} (s3://${bucket}/${reportKeys(env, component, releaseId).markdown}): releases from before reports existed, or whose report could not be written, have none. Read the record at ${releaseUri(env, component, releaseId)}, or render a report from it with \`vyaparai-deploy report ${releaseId} --env ${env} --component ${component}\`.`,
        );
      }
      return { contents: [{ uri: uri.toString(), mimeType: "text/markdown", text: redactText(markdown) }] };
    },
  );
}

/** The newest releases of every env and component; one that cannot be read is left out of the list. */
async function listReleases(
  runtime: Runtime,
  envs: string[],
  extra: Extra,
): Promise<{ resources: Resource[] }> {
  // Lazy: these modules pull in AWS SDK clients, which start-up must not pay for.
  const { listReleaseRecords } = await import("../release/records.js");
  const lists = await Promise.all(
    envs.flatMap((env) =>
      COMPONENTS.map(async (component): Promise<Resource[]> => {
        const envConfig = runtime.loaded.config.environments[env] as EnvConfig;
        try {
          if (extra.signal.aborted) return [];
          const s3 = await runtime.clientsFor(env).s3();
          const records = await listReleaseRecords(s3, envConfig.lambda.artifactBucket, env, component, {
            limit: LISTED_RELEASES,
          });
          // Only fields of a checked shape (ids, enums, ISO times) go into names: no outside text.
          return records.map((record) => ({
            uri: releaseUri(env, component, record.releaseId),
            name: `${env}/releases/${component}/${record.releaseId}`,
            title: `${component} release ${record.releaseId} in ${env}: ${record.status}`,
            description: `${record.tool}, ${record.status}${isoTime(record.startedAt, ", started")}${isoTime(record.finishedAt, ", finished")}. Its stored report, if any: ${reportUri(env, component, record.releaseId)}`,
            mimeType: "application/json",
          }));
        } catch {
          // No bucket yet, no credentials: the env's status resource reports why when read.
          return [];
        }
      }),
    ),
  );
  return { resources: lists.flat() };
}

/** A record's time, only when it is an ISO time (the field is free text in a record anyone can write). */
function isoTime(value: string | null, label: string): string {
  return value && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/.test(value)
    ? `${label} ${value}`
    : "";
}

function envOf(runtime: Runtime, variables: Variables): string {
  if (runtime.configError) throw protocolError(ErrorCode.InvalidParams, runtime.configError.message);
  const env = single(variables.env);
  const configured = Object.keys(runtime.loaded.config.environments).sort();
  if (!Object.hasOwn(runtime.loaded.config.environments, env)) {
    throw protocolError(
      ErrorCode.InvalidParams,
      `Unknown env "${quote(env, 40, /["\\]/g)}". Configured envs: ${configured.join(", ")}. Use one of them, e.g. ${statusUri(configured[0] ?? "prod")}, or add the env under "environments" in deploy.config.json.`,
    );
  }
  return env;
}

function releaseOf(
  runtime: Runtime,
  variables: Variables,
): { env: string; envConfig: EnvConfig; component: Component; releaseId: string } {
  const env = envOf(runtime, variables);
  const component = single(variables.component);
  const releaseId = single(variables.releaseId);
  const parsed = componentSchema.safeParse(component);
  if (!parsed.success) {
    throw protocolError(
      ErrorCode.InvalidParams,
      `Unknown component "${quote(component, 40, /["\\]/g)}": use one of ${COMPONENTS.join(", ")}, e.g. ${releaseUri(env, "lambda", "<releaseId>")}.`,
    );
  }
  if (!RELEASE_ID.test(releaseId)) {
    throw protocolError(
      ErrorCode.InvalidParams,
      `"${quote(releaseId, 64, /["\\]/g)}" is not a release id (expected e.g. 20261125T130512345Z-3fa9c1). List the releases with resources/list or read ${statusUri(env)}.`,
    );
  }
  return {
    env,
    envConfig: runtime.loaded.config.environments[env] as EnvConfig,
    component: parsed.data,
    releaseId,
  };
}

function single(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(",") : (value ?? "");
}

/** An AWS or record failure as an MCP error with the tool's own redacted message. */
async function aws<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw protocolError(ErrorCode.InternalError, String(errorResult(error).structured.summary));
  }
}

/**
 * A JSON-RPC error with this code and message. The SDK's McpError puts "MCP error <code>: " in
 * its message, and the client adds that prefix again; this one arrives as written.
 */
export function protocolError(code: number, message: string): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}

function jsonBody(uri: URL, value: unknown): ReadResourceResult {
  return {
    contents: [
      { uri: uri.toString(), mimeType: "application/json", text: JSON.stringify(redactDeep(value), null, 2) },
    ],
  };
}
