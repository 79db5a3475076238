#!/usr/bin/env node
import { loadConfig } from "./config/load.js";
import { DeployError } from "./core/errors.js";
import { createMcpServer, toolCallCheckFor } from "./server/mcp-server.js";
import { createRuntime } from "./server/runtime.js";
import { serveStdio } from "./server/stdio.js";

interface MainArgs {
  readOnly: boolean;
  configPath: string | undefined;
}

function parseMainArgs(argv: string[]): MainArgs {
  const args: MainArgs = { readOnly: false, configPath: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--read-only") args.readOnly = true;
    else if (arg === "--config") args.configPath = argv[++i];
    else if (arg?.startsWith("--config=")) args.configPath = arg.slice("--config=".length);
    else if (arg === "--help" || arg === "-h") {
      process.stderr.write("Usage: vyaparai-deploy-mcp [--read-only] [--config PATH]\nA stdio MCP server.\n");
      process.exit(0);
    } else {
      process.stderr.write(
        `Unknown argument ${arg}. Usage: vyaparai-deploy-mcp [--read-only] [--config PATH]\n`,
      );
      process.exit(2);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseMainArgs(process.argv.slice(2));
  const loaded = loadConfig({ configPath: args.configPath });
  const runtime = createRuntime({ loaded });
  const serverOptions = { runtime, readOnly: args.readOnly || loaded.config.readOnly };
  const server = createMcpServer(serverOptions);
  const shutdown = async () => {
    runtime.close();
    await server.close().catch(() => {});
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  await serveStdio(server, () => runtime.close(), toolCallCheckFor(serverOptions));
}

main().catch((error: unknown) => {
  // stdout belongs to the protocol; errors go to stderr.
  const message =
    error instanceof DeployError ? error.message : `Fatal: ${(error as Error)?.stack ?? String(error)}`;
  process.stderr.write(`vyaparai-deploy: ${message}\n`);
  process.exit(1);
});
