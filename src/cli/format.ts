import type { ToolCallResult } from "../server/invoke.js";

/** Human output: the summary first, then the fields worth a glance, as indented JSON. */
export function formatHuman(toolName: string, result: ToolCallResult): string {
  const { summary, ...rest } = result.structured;
  const head = `${result.isError ? "✗" : "✓"} ${toolName}: ${String(summary)}`;
  const body = JSON.stringify(rest, null, 2);
  return body === "{}" ? head : `${head}\n${body}`;
}
