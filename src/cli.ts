#!/usr/bin/env node
import { describeFlags, parseToolFlags } from "./cli/args.js";
import { formatHuman } from "./cli/format.js";
import { runInit } from "./cli/init.js";
import { loadConfig } from "./config/load.js";
import { redactText } from "./core/redact.js";
import { errorResult, invokeTool } from "./server/invoke.js";
import { createRuntime } from "./server/runtime.js";
import { allTools } from "./tools/index.js";

const USAGE = `Usage: vyaparai-deploy <tool> [--env ENV] [flags] [--json] [--config PATH]
       vyaparai-deploy tools
       vyaparai-deploy init [dir] [--force]   install /deploy and .mcp.json into an app repo

Tools: ${allTools.map((t) => t.name).join(", ")}
Run "vyaparai-deploy <tool> --help" for a tool's flags.
Exit codes: 0 success, 1 tool failure or refusal, 2 usage error, 3 confirmation required.`;

/** Pulls --config out of argv wherever it is (it belongs to the CLI, not to a tool). */
function takeConfigFlag(argv: string[]): { rest: string[]; configPath: string | undefined } {
  const rest: string[] = [];
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--config") configPath = argv[++i];
    else if (arg.startsWith("--config=")) configPath = arg.slice(9);
    else rest.push(arg);
  }
  return { rest, configPath };
}

export async function runCli(argv: string[]): Promise<number> {
  const { rest, configPath } = takeConfigFlag(argv);
  const [command, ...flags] = rest;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  if (command === "init") return runInit(flags);
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
    process.stderr.write(`Unknown tool or command "${redactText(command)}".\n${USAGE}\n`);
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
  const json = parsed.json;
  let result: Awaited<ReturnType<typeof invokeTool>>;
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  let runtime: ReturnType<typeof createRuntime> | undefined;
  try {
    runtime = createRuntime({ loaded: loadConfig({ configPath }) });
    result = await invokeTool(tool, parsed.args, runtime, {
      signal: controller.signal,
      progress: (message) => process.stderr.write(`… ${message}\n`),
      log: (level, message) => process.stderr.write(`[${level}] ${message}\n`),
    });
  } catch (error) {
    result = errorResult(error);
  } finally {
    runtime?.close();
  }
  process.stdout.write(
    json ? `${JSON.stringify(result.structured, null, 2)}\n` : `${formatHuman(tool.name, result)}\n`,
  );
  if (result.isError)
    return result.structured.error && (result.structured.error as { code?: string }).code === "INPUT_INVALID"
      ? 2
      : 1;
  const status = result.structured.status;
  if (status === "confirmation_required") return 3;
  if (status === "failed" || status === "rolled_back" || status === "error" || result.structured.ok === false)
    return 1;
  // A CI step gating on health_check must fail when the service is down.
  if (result.structured.verdict === "unhealthy") return 1;
  return 0;
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
