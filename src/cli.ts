#!/usr/bin/env node
import { describeFlags, parseToolFlags } from "./cli/args.js";
import { formatHuman } from "./cli/format.js";
import { runIamPolicy } from "./cli/iam-policy.js";
import { runInit } from "./cli/init.js";
import { confirmCommand } from "./cli/next-command.js";
import { terminalCodeAsker } from "./cli/tty-code.js";
import { redactText } from "./core/redact.js";
import { errorResult, invokeTool, type ToolCallResult } from "./server/invoke.js";
import type { Runtime } from "./server/runtime.js";
import { startRuntime } from "./server/startup.js";
import { isDestructive } from "./tools/definition.js";
import { allTools } from "./tools/index.js";

// The AWS SDK's notice about its future Node 22 requirement would print 7 lines into every
// command's output; engines and CI already say which Node this runs on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const USAGE = `Usage: vyaparai-deploy <tool> [--env ENV] [flags] [--json] [--config PATH] [--read-only]
       vyaparai-deploy tools
       vyaparai-deploy init [dir] [--force]   install /deploy and .mcp.json into an app repo
       vyaparai-deploy iam-policy [--env ENV] [--role read|deploy|trust]   least-privilege IAM for the tools
       vyaparai-deploy report RELEASE_ID [--env ENV] [--svg]   a release's report (Markdown + Mermaid, or SVG)

Tools: ${allTools.map((t) => t.name).join(", ")}
Run "vyaparai-deploy <tool> --help" for a tool's flags.
Read-only mode (--read-only, VYAPARAI_DEPLOY_READ_ONLY=1 or "readOnly": true in the config)
refuses the tools that change AWS.
Exit codes: 0 success, 1 tool failure or refusal, 2 usage error, 3 confirmation required.`;

interface GlobalFlags {
  rest: string[];
  configPath: string | undefined;
  readOnly: boolean;
}

/** Pulls --config and --read-only out of argv wherever they are (they belong to the CLI, not to a tool). */
function takeGlobalFlags(argv: string[]): GlobalFlags {
  const rest: string[] = [];
  let configPath: string | undefined;
  let readOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--config") configPath = argv[++i];
    else if (arg.startsWith("--config=")) configPath = arg.slice(9);
    else if (arg === "--read-only") readOnly = true;
    else rest.push(arg);
  }
  return { rest, configPath, readOnly };
}

export async function runCli(argv: string[]): Promise<number> {
  const { rest, configPath, readOnly: readOnlyFlag } = takeGlobalFlags(argv);
  const [command, ...flags] = rest;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (command === "init") return runInit(flags);
  if (command === "iam-policy") return runIamPolicy(flags, configPath);
  // Lazy: the report reads S3, and the SDK must not load for every command.
  if (command === "report") return (await import("./cli/report.js")).runReport(flags, configPath);
  if (command === "tools") {
    for (const tool of allTools) {
      process.stdout.write(
        `${tool.name.padEnd(16)} ${tool.annotations.readOnlyHint ? "read-only  " : "destructive"} ${tool.title}\n`,
      );
    }
    return 0;
  }
  const tool = allTools.find((t) => t.name === command || t.name === command.replace(/-/g, "_"));
  if (!tool) {
    process.stderr.write(`Unknown tool or command "${redactText(command).slice(0, 60)}".\n${USAGE}\n`);
    return 2;
  }
  if (flags.includes("--help") || flags.includes("-h")) {
    process.stdout.write(
      `${tool.name}: ${tool.description}\n\nFlags:\n${describeFlags(tool)}\n  --json  Print the structured result as JSON.\n`,
    );
    return 0;
  }
  let parsed: ReturnType<typeof parseToolFlags>;
  try {
    parsed = parseToolFlags(tool, flags);
  } catch (error) {
    process.stderr.write(`${redactText((error as Error).message)}\n`);
    return 2;
  }
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  let runtime: Runtime | undefined;
  let result: ToolCallResult;
  try {
    const started = startRuntime({ configPath, readOnlyFlag });
    runtime = started.runtime;
    if (started.readOnly.warning) process.stderr.write(`vyaparai-deploy: ${started.readOnly.warning}\n`);
    if (started.readOnly.on && isDestructive(tool)) {
      process.stderr.write(
        `${tool.name} changes AWS, and read-only mode is on (${started.readOnly.source}). Nothing was run. Turn read-only off to deploy.\n`,
      );
      return 1;
    }
    result = await invokeTool(tool, parsed.args, runtime, {
      signal: controller.signal,
      progress: (message) => process.stderr.write(`… ${message}\n`),
      log: (level, message) => process.stderr.write(`[${level}] ${message}\n`),
      askCode: terminalCodeAsker(),
      outlivesAnswer: false,
    });
  } catch (error) {
    result = errorResult(error);
  } finally {
    runtime?.close();
  }
  process.stdout.write(
    parsed.json ? `${JSON.stringify(result.structured, null, 2)}\n` : `${formatHuman(tool.name, result)}\n`,
  );
  const code = exitCodeOf(result);
  const token = result.structured.confirmationToken;
  if (code === 3 && typeof token === "string") {
    // In --json mode stdout stays pure JSON; the next step goes to stderr.
    const next = `\nReview the plan above. To make this change, run within ${expiresIn(result)}:\n  ${confirmCommand(tool.name, parsed.args, token)}\n`;
    (parsed.json ? process.stderr : process.stdout).write(next);
  }
  return code;
}

function exitCodeOf(result: ToolCallResult): number {
  if (result.isError) {
    const code = (result.structured.error as { code?: string } | undefined)?.code;
    return code === "INPUT_INVALID" ? 2 : 1;
  }
  const status = result.structured.status;
  if (status === "confirmation_required") return 3;
  // A deploy that was rolled back is a failure (isError, from the tool's own isFailure); the
  // rollback tool's "rolled_back" is its success.
  if (status === "failed" || status === "error" || result.structured.ok === false) return 1;
  // A CI step gating on health_check must fail when the service is down.
  if (result.structured.verdict === "unhealthy") return 1;
  return 0;
}

function expiresIn(result: ToolCallResult): string {
  const expiresAt = Date.parse(String(result.structured.expiresAt ?? ""));
  if (Number.isNaN(expiresAt)) return "the token's lifetime";
  const minutes = Math.max(0, Math.round((expiresAt - Date.now()) / 60_000));
  return `${minutes} minute${minutes === 1 ? "" : "s"} (token expires ${new Date(expiresAt).toISOString()})`;
}

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`vyaparai-deploy: ${redactText((error as Error)?.message ?? String(error))}\n`);
    process.exitCode = 1;
  },
);
