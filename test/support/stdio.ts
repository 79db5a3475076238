import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

export const BUILT_SERVER = resolve(import.meta.dirname, "../../dist/main.js");
export const BUILT_CLI = resolve(import.meta.dirname, "../../dist/cli.js");

export interface StdioSession {
  client: Client;
  stderr: () => string;
  close(): Promise<void>;
}

/** Spawns the built server over stdio and connects the SDK client to it. */
export async function connectStdio(options: {
  args?: string[];
  cwd?: string;
  env?: Record<string, string>;
  capabilities?: ConstructorParameters<typeof Client>[1];
}): Promise<StdioSession> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BUILT_SERVER, ...(options.args ?? [])],
    cwd: options.cwd ?? process.cwd(),
    env: { ...(process.env as Record<string, string>), ...(options.env ?? {}) },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = new Client({ name: "vyaparai-deploy-tests", version: "0.0.0" }, options.capabilities);
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}
