import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, type GetPromptResult } from "@modelcontextprotocol/sdk/types.js";
import { DeployError } from "../core/errors.js";
import {
  deployPromptArgs,
  deployPromptText,
  INCIDENT_DEFAULT_MINUTES,
  incidentPromptArgs,
  incidentPromptText,
  rollbackPromptArgs,
  rollbackPromptText,
} from "../tools/prompt-text.js";
import { protocolError } from "./resources.js";

/**
 * The MCP prompts: the /deploy flow for every client, not only Claude Code. Their text comes
 * from the shipped slash command (src/tools/prompt-text.ts), so the steps and rules are the
 * same everywhere. Prompts only produce text: they are listed in read-only mode too.
 */
export function registerPrompts(server: McpServer): void {
  const deployDescription =
    "Release VyapaarAI safely: preflight, plan, your yes, deploy, health check (the /deploy flow).";
  server.registerPrompt(
    "deploy",
    { title: "Deploy", description: deployDescription, argsSchema: deployPromptArgs },
    (args) => {
      if (args.planOnly === "true" && args.apply === "true") {
        throw protocolError(
          ErrorCode.InvalidParams,
          'planOnly and apply exclude each other: pass planOnly "true" to only plan, or apply "true" to apply a Terraform plan after your yes.',
        );
      }
      return promptResult(deployDescription, () => deployPromptText(args));
    },
  );

  const rollbackDescription =
    "Roll the Lambda or the frontend back to the previous (or a named) release, with a plan and your yes first.";
  server.registerPrompt(
    "rollback",
    { title: "Roll back", description: rollbackDescription, argsSchema: rollbackPromptArgs },
    (args) => promptResult(rollbackDescription, () => rollbackPromptText(args)),
  );

  const incidentDescription = `What broke in the last N minutes (default ${INCIDENT_DEFAULT_MINUTES}): logs, health and the last release, read-only.`;
  server.registerPrompt(
    "incident",
    { title: "Incident", description: incidentDescription, argsSchema: incidentPromptArgs },
    (args) => promptResult(incidentDescription, () => incidentPromptText(args)),
  );
}

function promptResult(description: string, text: () => string): GetPromptResult {
  try {
    return { description, messages: [{ role: "user", content: { type: "text", text: text() } }] };
  } catch (error) {
    // A missing or reshaped deploy.md in the package: say which file, not a stack.
    const message = error instanceof DeployError ? error.message : "The prompt text could not be built.";
    throw protocolError(ErrorCode.InternalError, message);
  }
}
