import type { ToolCallResult } from "../server/invoke.js";

/** Human output: the summary first, then the remaining fields as indented JSON. */
export function formatHuman(toolName: string, result: ToolCallResult): string {
  // An error's `error` field repeats the summary; the code is shown on the first line instead.
  const { summary, error, ...rest } = result.structured as Record<string, unknown> & {
    error?: { code?: string };
  };
  const head = result.isError
    ? `✗ ${toolName} [${error?.code ?? "ERROR"}]: ${String(summary)}`
    : `✓ ${toolName}: ${String(summary)}`;
  const body = JSON.stringify(rest, null, 2);
  return body === "{}" ? head : `${head}\n${body}`;
}
