#!/usr/bin/env node
import { DeployError } from "./core/errors.js";
import { createMcpServer, toolCallCheckFor } from "./server/mcp-server.js";
import { startRuntime, startupLine } from "./server/startup.js";
import { serveStdio } from "./server/stdio.js";

// The AWS SDK's notice about its future Node 22 requirement would print 7 lines into the
// client's log on every start; engines and CI already say which Node this runs on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const USAGE = "Usage: vyaparai-deploy-mcp [--read-only] [--config PATH]";

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
      process.stderr.write(
        `${USAGE}\nA stdio MCP server. VYAPARAI_DEPLOY_READ_ONLY=1 also selects read-only mode; VYAPARAI_DEPLOY_CONFIG names the config file.\n`,
      );
      process.exit(0);
    } else {
      process.stderr.write(`Unknown argument ${JSON.stringify(String(arg).slice(0, 60))}. ${USAGE}\n`);
      process.exit(2);
    }
  }
  if (argv.includes("--config") && !args.configPath) {
    process.stderr.write(`--config needs a path. ${USAGE}\n`);
    process.exit(2);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseMainArgs(process.argv.slice(2));
  const started = startRuntime({ configPath: args.configPath, readOnlyFlag: args.readOnly });
  const { runtime } = started;
  if (started.readOnly.warning) process.stderr.write(`vyaparai-deploy-mcp: ${started.readOnly.warning}\n`);
  // stdout belongs to the protocol: the start-up line goes to stderr (the client's MCP log).
  process.stderr.write(`${startupLine("vyaparai-deploy-mcp", started)}\n`);
  const serverOptions = { runtime, readOnly: started.readOnly.on };
  const server = createMcpServer(serverOptions);
  const shutdown = async () => {
    runtime.close();
    await server.close().catch(() => {});
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
  // When the client goes away, a release still running after its answer (wait: false, a
  // canary bake) finishes first: closing the clients under it would leave it interrupted.
  const closeAfterBackground = () => {
    void Promise.allSettled([...runtime.session.background]).then(() => runtime.close());
  };
  await serveStdio(server, closeAfterBackground, toolCallCheckFor(serverOptions));
}

main().catch((error: unknown) => {
  // stdout belongs to the protocol; errors go to stderr.
  const message =
    error instanceof DeployError ? error.message : `Fatal: ${(error as Error)?.stack ?? String(error)}`;
  process.stderr.write(`vyaparai-deploy: ${message}\n`);
  process.exit(1);
});
