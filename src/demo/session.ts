import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { spawnServer } from "../bench/mcp-session.js";

/**
 * The demo's MCP client: the built stdio server started the way Claude Code starts it, and
 * each tool call printed as one line (tool, arguments, time) plus its summary.
 */
export type Structured = Record<string, unknown> & {
  summary?: string;
  status?: string;
  confirmationToken?: string;
};

export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** Tokens are single-use secrets in all but name: the demo shows only their start. */
export function shortToken(token: string): string {
  return token.replace(/^(v1\.[^".]{6})[^"]*$/, "$1…");
}

export function shownArgs(args: Record<string, unknown>): string {
  return JSON.stringify(args, (_key, value: unknown) =>
    typeof value === "string" ? shortToken(value) : value,
  );
}

export interface CallOptions {
  /** Print one short line instead of the call and its summary. */
  quiet?: boolean;
  /** A tool failure is returned (the flow decides what to do) instead of thrown. */
  allowFailure?: boolean;
}

export interface DemoSession {
  readonly toolNames: string[];
  call(name: string, args: Record<string, unknown>, options?: CallOptions): Promise<Structured>;
  close(): Promise<void>;
}

export async function openSession(input: {
  server: string;
  cwd: string;
  env: Record<string, string>;
}): Promise<DemoSession> {
  const { transport, stderr } = spawnServer({
    script: input.server,
    cwd: input.cwd,
    env: input.env,
    stderrChars: 4000,
  });
  const client = new Client({ name: "vyaparai-deploy-demo", version: "0.1.0" });
  try {
    await client.connect(transport);
  } catch (error) {
    throw new Error(`the MCP server did not start: ${(error as Error).message}\n${stderr()}`);
  }
  const { tools } = await client.listTools();
  return {
    toolNames: tools.map((t) => t.name),
    async call(name, args, options = {}) {
      const t0 = performance.now();
      const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 600_000 });
      const structured = (result.structuredContent ?? {}) as Structured;
      const ms = Math.round(performance.now() - t0);
      const summary = String(
        structured.summary ?? (result.content as Array<{ text?: string }> | undefined)?.[0]?.text ?? "",
      );
      const mark = result.isError ? "✗" : "✓";
      if (options.quiet) {
        print(`  ${mark} ${name} ${ms} ms${result.isError ? `: ${summary}` : ""}`);
      } else {
        print(`${mark} ${name}(${shownArgs(args)}) ${ms} ms`);
        print(`    ${summary}`);
      }
      if (result.isError && !options.allowFailure) throw new Error(`${name} failed: ${summary}`);
      return { ...structured, ...(result.isError ? { isError: true } : {}) };
    },
    close: () => client.close().catch(() => {}),
  };
}
