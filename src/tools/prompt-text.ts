import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod";
import { DeployError } from "../core/errors.js";
import { packageRoot } from "../core/package-root.js";
import { envArg } from "./common.js";
import { rollbackTool } from "./rollback.js";

/**
 * The text of the MCP prompts `deploy`, `rollback` and `incident`. There is one source: the
 * Claude Code slash command .claude/commands/deploy.md, shipped in the package and read at
 * run time. The `deploy` prompt is its body; `rollback` and `incident` reuse its sections by
 * heading. Nothing here restates a rule, so editing the command changes every prompt, and
 * a substitution that no longer finds its text throws (the prompt tests then fail).
 */

export const SLASH_COMMAND_FILE = ".claude/commands/deploy.md";

/** The server's name in Claude Code's tool names: mcp__vyaparai-deploy__preflight. */
const CLAUDE_TOOL_PREFIX = "mcp__vyaparai-deploy__";

/**
 * The documented substitutions that turn the slash command's body into the `deploy` prompt,
 * in the order they run:
 * 1. the frontmatter block (`---` … `---`) and the blank lines after it are dropped;
 * 2. every `$ARGUMENTS` becomes the prompt's arguments rendered as the slash command would
 *    receive them (`backend --env staging --plan`), see {@link deployArgumentsText};
 * 3. the paragraphs of {@link CLIENT_PARAGRAPHS} (Claude Code's permission prompts and its
 *    plugin tool names) are each replaced by their client-neutral text;
 * 4. Claude Code's tool names `mcp__vyaparai-deploy__<tool>` become the plain `<tool>`, the
 *    names every MCP client lists.
 * The result holds no `mcp__` name and no "Claude Code".
 */
export const CLIENT_PARAGRAPHS: ReadonlyArray<{ startsWith: string; replacement: string }> = [
  {
    startsWith: "Only the read-only tools are pre-approved for this command.",
    replacement:
      "Only the read-only tools are safe to call without asking. Your MCP client should ask the user before every destructive call (those tools are marked destructive), and that is intended: never look for a way around a prompt or a refusal.",
  },
  {
    startsWith: "Installed as a Claude Code plugin,",
    replacement:
      "These are the tool names of the vyaparai-deploy MCP server. If your client shows them with a prefix for the server, use the names your tool list has. This text is the `deploy` prompt of that server, the same flow as Claude Code's /deploy command: where it says to run `/deploy <arguments>`, ask the user to run the `deploy` prompt again with those arguments (target, env, planOnly for `--plan`, apply for `--apply`).",
  },
];

/** The shipped slash command's full text (frontmatter included). */
export function readSlashCommand(root: string = packageRoot()): string {
  const path = join(root, SLASH_COMMAND_FILE);
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new DeployError(
      "CONFIG_INVALID",
      `The package file ${path} is missing or unreadable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the prompts are built from it. Reinstall vyaparai-deploy.`,
    );
  }
}

/** The slash command without its frontmatter block and the blank lines after it. */
export function slashCommandBody(text: string): string {
  const match = /^---\r?\n[\s\S]*?\r?\n---\r?\n([\s\S]*)$/.exec(text);
  if (!match) throw sourceProblem("has no frontmatter block (--- … ---)");
  return (match[1] as string).replace(/^(?:[ \t]*\r?\n)+/, "");
}

// Prompt arguments: MCP sends every prompt argument as a string. Each one is checked before it
// reaches a prompt text, so an argument cannot add lines or instructions to it.
const envPromptArg = envArg
  .unwrap()
  .optional()
  .describe("Configured environment (dev, staging, prod, …); default prod.");
const flagArg = (what: string) => z.enum(["true", "false"]).optional().describe(`"true" to ${what}.`);

export const deployPromptArgs = {
  target: z
    .enum(["all", "backend", "frontend", "lambda", "infra"])
    .describe("What to release: all, backend, frontend, lambda or infra."),
  env: envPromptArg,
  planOnly: flagArg("plan only: every read-only step and dry run, no change (`--plan`)"),
  apply: flagArg("apply the Terraform plan after your yes, for infra and all (`--apply`)"),
};

export const rollbackPromptArgs = {
  component: rollbackTool.inputSchema.component.describe("What to roll back: lambda or frontend."),
  env: envPromptArg,
  to: rollbackTool.inputSchema.to,
};

export const INCIDENT_DEFAULT_MINUTES = 30;
const INCIDENT_MAX_MINUTES = 1440;

export const incidentPromptArgs = {
  env: envPromptArg,
  minutes: z
    .string()
    .regex(/^[1-9]\d{0,3}$/, `minutes is a whole number from 1 to ${INCIDENT_MAX_MINUTES}`)
    .refine((v) => Number(v) <= INCIDENT_MAX_MINUTES, `minutes is at most ${INCIDENT_MAX_MINUTES}`)
    .optional()
    .describe(`How far back to look, in minutes (default ${INCIDENT_DEFAULT_MINUTES}).`),
};

export interface DeployPromptArgs {
  target: string;
  env?: string | undefined;
  planOnly?: string | undefined;
  apply?: string | undefined;
}

export interface RollbackPromptArgs {
  component: string;
  env?: string | undefined;
  to?: string | undefined;
}

export interface IncidentPromptArgs {
  env?: string | undefined;
  minutes?: string | undefined;
}

/** The arguments as the slash command receives them: `backend --env staging --plan`. */
export function deployArgumentsText(args: DeployPromptArgs): string {
  return [
    args.target,
    ...(args.env ? ["--env", args.env] : []),
    ...(args.planOnly === "true" ? ["--plan"] : []),
    ...(args.apply === "true" ? ["--apply"] : []),
  ].join(" ");
}

/** Steps 3 and 4 of the substitutions: the command's text as any MCP client reads it. */
export function forAnyClient(text: string): string {
  let out = text;
  for (const { startsWith, replacement } of CLIENT_PARAGRAPHS) {
    const paragraph = out.split(/\n{2,}/).find((p) => p.startsWith(startsWith));
    if (paragraph === undefined) throw sourceProblem(`has no paragraph starting "${startsWith}"`);
    out = out.replace(paragraph, () => replacement);
  }
  return plainToolNames(out);
}

/** Step 4: Claude Code's tool names become the plain ones; none may be left. */
export function plainToolNames(text: string): string {
  const out = text.replaceAll(CLAUDE_TOOL_PREFIX, "");
  const left = /mcp__[\w-]+|Claude Code(?!'s \/deploy command)/.exec(out);
  if (left) throw sourceProblem(`still names "${left[0]}" after the client substitutions`);
  return out;
}

/** The `deploy` prompt: the slash command's body after the documented substitutions. */
export function deployPromptText(args: DeployPromptArgs, source: string = readSlashCommand()): string {
  const body = slashCommandBody(source).replaceAll("$ARGUMENTS", () => deployArgumentsText(args));
  return forAnyClient(body);
}

/** Headings of deploy.md the short prompts reuse, by title (the number may change). */
export const REUSED_SECTIONS = {
  rules: "Rules that always hold",
  mutation: "The mutation protocol",
  report: "Health check and report",
  failure: "When it fails",
} as const;

/**
 * The section of the body under `## <n>. <title>`, heading included, up to the next `## `
 * heading outside a code block.
 */
export function sectionOf(body: string, title: string): string {
  const lines = body.split("\n");
  const heading = new RegExp(`^## (?:\\d+\\. )?${title.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*$`);
  const start = lines.findIndex((line) => heading.test(line));
  if (start < 0) throw sourceProblem(`has no section "## … ${title}"`);
  let fenced = false;
  let end = lines.length;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith("```")) fenced = !fenced;
    else if (!fenced && line.startsWith("## ")) {
      end = i;
      break;
    }
  }
  return lines.slice(start, end).join("\n").trimEnd();
}

/** The top-level bullets of a section: each `- ` line with its indented continuation lines. */
export function bulletsOf(section: string): string[] {
  const bullets: string[] = [];
  let current: number | null = null;
  for (const line of section.split("\n")) {
    if (line.startsWith("- ")) current = bullets.push(line) - 1;
    else if (current !== null && /^ {2}\S/.test(line)) bullets[current] += `\n${line}`;
    else current = null;
  }
  return bullets;
}

/**
 * The rules for rollback calls from the report section: what `to` may be (never `$LATEST`),
 * and, with `includeDoNotRun`, that a rollback is only shown, never run unasked.
 */
function rollbackRules(body: string, includeDoNotRun: boolean): string {
  const bullets = bulletsOf(sectionOf(body, REUSED_SECTIONS.report)).filter(
    (b) => b.includes("`to`") || (includeDoNotRun && /\brollback yourself\b/.test(b)),
  );
  const text = bullets.join("\n");
  if (!text.includes("Never pass `$LATEST`"))
    throw sourceProblem("no longer says in its report section to never pass `$LATEST`");
  return text;
}

const TOOL_NAMES_NOTE =
  "The tools are the vyaparai-deploy MCP server's (`deploy_status`, `health_check`, `tail_logs`, `rollback`, …). If your client shows them with a prefix for the server, use the names your tool list has. The sections quoted below come from the `deploy` prompt (Claude Code's /deploy command) and hold here too.";

/** The `rollback` prompt: a few steps, then the command's rules, mutation protocol and failure steps. */
export function rollbackPromptText(args: RollbackPromptArgs, source: string = readSlashCommand()): string {
  const body = slashCommandBody(source);
  const env = args.env ?? "prod";
  const { component } = args;
  const callArgs = { env, component, ...(args.to ? { to: args.to } : {}) };
  const target = args.to
    ? `to \`${args.to}\` (a release id or a Lambda version)`
    : "to the previous release (no `to`: the release before the live one, or for the first release the tool made, the state before it)";
  const text = [
    `# Roll back ${component} in ${env}`,
    "",
    `Roll VyapaarAI's ${component} in the \`${env}\` env back ${target} with the vyaparai-deploy MCP tools, one safe step at a time.`,
    "",
    TOOL_NAMES_NOTE,
    "",
    "## Steps",
    "",
    `1. Call \`deploy_status {"env": "${env}"}\` and show what is live now for ${component} and its last releases (release id, status, when). If a deploy lock is held or a release is in progress or interrupted, show it and stop.`,
    args.to
      ? `2. Check that \`${args.to}\` is one of the listed \`releaseId\`s${component === "lambda" ? " or a published Lambda version" : ""}. If it is not, say so and stop: never pick another target yourself.`
      : "2. Say which release is live and which one the rollback returns to.",
    `3. Follow the mutation protocol below with \`TOOL\` = \`rollback\`: first \`rollback ${callText({ ...callArgs, dryRun: true })}\`, show the plan, ask "Roll back ${component} in ${env}?" and wait for a clear yes; then \`rollback ${callText(callArgs)}\`, and the token step only if it answers \`confirmation_required\`.`,
    '4. Read the outcome: `rolled_back` (report `from` → `to`, `releaseId` and the health result), `unchanged` (that target is already live) or `failed` (go to "When it fails" below).',
    `5. Call \`health_check {"env": "${env}"}\` and report the component, \`from\` → \`to\`, the release id and the health verdict.`,
    "",
    sectionOf(body, REUSED_SECTIONS.rules),
    "",
    sectionOf(body, REUSED_SECTIONS.mutation),
    "",
    "## Rollback targets",
    "",
    rollbackRules(body, false),
    "",
    sectionOf(body, REUSED_SECTIONS.failure),
    "",
  ].join("\n");
  return plainToolNames(text);
}

/** The `incident` prompt: read-only steps over logs, health and the last release, with the command's rules. */
export function incidentPromptText(args: IncidentPromptArgs, source: string = readSlashCommand()): string {
  const body = slashCommandBody(source);
  const env = args.env ?? "prod";
  const minutes = args.minutes ?? String(INCIDENT_DEFAULT_MINUTES);
  const text = [
    `# Incident in ${env}: what broke in the last ${minutes} minutes`,
    "",
    `Find out what broke in VyapaarAI's \`${env}\` env in the last ${minutes} minutes with the read-only vyaparai-deploy MCP tools. This is an investigation: call no tool that changes anything (\`deploy_lambda\`, \`deploy_frontend\`, \`terraform_apply\`, \`rollback\`).`,
    "",
    TOOL_NAMES_NOTE,
    "",
    "## Steps",
    "",
    `1. Call \`deploy_status {"env": "${env}"}\`: what is live per component, the last releases (any that started in the last ${minutes} minutes: release id, component, status, \`startedAt\`, \`finishedAt\`), the deploy lock, interrupted releases and drift.`,
    `2. Call \`health_check {"env": "${env}"}\`: the verdict, every target that is not healthy (status, latency, error) and the Lambda state.`,
    `3. Call \`tail_logs {"env": "${env}", "since": "${minutes}m", "level": "ERROR"}\` and show \`stats.errorGroups\` (message, count, first and last seen) and up to five events, quoted as data, and from \`stats\` the timeouts, cold starts and duration p95. If \`truncated\`, give the \`narrowHint\`.`,
    '4. Report, filled from the tools\' fields (write "none" rather than omit a row):',
    "",
    "```",
    `## Incident in ${env}, last ${minutes} min: <healthy | degraded | unhealthy>`,
    "",
    "Health: <verdict>; <name> <status> p50 <p50Ms> ms, p95 <p95Ms> ms; Lambda <state>/<lastUpdateStatus>",
    "Errors: <count> in <n> groups; top: <message> ×<count> (first <firstSeen>, last <lastSeen>)",
    "Last release: <component> <releaseId> <status>, finished <finishedAt> | none in the window",
    "Live: lambda <version> (CodeSha256 <codeSha256>), frontend <releaseId>",
    "Likely cause: <the release, if the errors began after it finished | unknown>",
    "```",
    "",
    "5. Say whether the errors began after the last release finished (compare the first error's time with its `finishedAt`). If they did, show the exact rollback call for that component (rules below) and stop: a rollback is the user's decision, made with the `rollback` prompt or by asking for it.",
    "",
    sectionOf(body, REUSED_SECTIONS.rules),
    "",
    "## Rollback calls",
    "",
    rollbackRules(body, true),
    "",
  ].join("\n");
  return plainToolNames(text);
}

/** A call's arguments as deploy.md writes them: `{"env": "prod", "component": "lambda"}`. */
function callText(args: Record<string, unknown>): string {
  const fields = Object.entries(args).map(
    ([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`,
  );
  return `{${fields.join(", ")}}`;
}

function sourceProblem(problem: string): DeployError {
  return new DeployError(
    "TOOL_FAILED",
    `${SLASH_COMMAND_FILE} ${problem}; the MCP prompts are built from it. Update src/tools/prompt-text.ts together with it.`,
  );
}
