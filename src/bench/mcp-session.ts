import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Cleanup } from "./cleanup.js";

/** dist/main.js: our server, spawned the way an MCP client spawns it. */
export const OUR_SERVER = resolve(import.meta.dirname, "../main.js");
/** dist/bench/bare-server.js: the start-up floor. */
export const BARE_SERVER = resolve(import.meta.dirname, "bare-server.js");

export interface ToolAnswer {
  isError: boolean;
  structured: Record<string, unknown>;
  text: string;
}

export interface McpSession {
  client: Client;
  /** Pid of the server process (node itself: it is spawned without a shell). */
  pid: number;
  stderr(): string;
  call(name: string, args: Record<string, unknown>): Promise<ToolAnswer>;
  close(): Promise<void>;
}

/** Marks the honest error of a tool whose implementation has not landed (src/tools/common.ts). */
export const NOT_BUILT = /is not available in this build yet/;

/**
 * Spawns a stdio MCP server script the way an MCP client does (this node, no shell) and keeps
 * the last `stderrChars` characters of its stderr; the caller connects its client to
 * `transport`. The bench's sessions and the demo's (src/demo/session.ts) both start here.
 */
export function spawnServer(options: {
  script: string;
  cwd: string;
  env: Record<string, string>;
  stderrChars: number;
}): { transport: StdioClientTransport; stderr(): string } {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [options.script],
    cwd: options.cwd,
    env: options.env,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-options.stderrChars);
  });
  return { transport, stderr: () => stderr };
}

export async function openSession(options: {
  script: string;
  cwd: string;
  env: Record<string, string>;
  cleanup: Cleanup;
}): Promise<McpSession> {
  const { transport, stderr } = spawnServer({ ...options, stderrChars: 8000 });
  const client = new Client({ name: "vyaparai-bench", version: "0.0.0" });
  await client.connect(transport);
  const pid = transport.pid as number;
  const forgetKill = options.cleanup.onExit(() => process.kill(pid, "SIGKILL"));
  const close = options.cleanup.add(async () => {
    forgetKill();
    await client.close();
  });
  return {
    client,
    pid,
    stderr,
    async call(name, args) {
      const result = await client.callTool({ name, arguments: args }, undefined, {
        timeout: 15 * 60_000,
        resetTimeoutOnProgress: true,
      });
      const text = (result.content as Array<{ type: string; text?: string }>)
        .map((part) => part.text ?? "")
        .join("\n");
      return {
        isError: result.isError === true,
        structured: (result.structuredContent ?? {}) as Record<string, unknown>,
        text,
      };
    },
    close,
  };
}

/** Peak resident set size of a live process in MB, from /proc/<pid>/status (Linux). */
export function peakRssMb(pid: number): number | null {
  const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) / 1024 : null;
}
