import * as z from "zod";
import { quote } from "../core/quote.js";
import type { AnyToolDefinition } from "./definition.js";

/**
 * A tool's arguments as one strict object: an unknown key is an error that names it and the
 * nearest valid one (`dry_run` → `dryRun`), never dropped. The MCP server registers this very
 * schema (so `tools/list` shows `additionalProperties: false` and the SDK refuses before it
 * strips anything) and the invocation wrapper parses with it again, for the CLI and tests.
 */
export function strictInputOf(tool: AnyToolDefinition) {
  const valid = Object.keys(tool.inputSchema);
  return z.strictObject(tool.inputSchema, {
    error: (issue) => {
      if (issue.code !== "unrecognized_keys") return undefined;
      return unknownArguments(tool.name, issue.keys, valid);
    },
  });
}

/** Unknown keys named one by one up to this many; a flood of them is counted, not echoed. */
const NAMED_UNKNOWN_KEYS = 5;

export function unknownArguments(
  toolName: string,
  keys: readonly string[],
  valid: readonly string[],
): string {
  const named = keys.slice(0, NAMED_UNKNOWN_KEYS).map((key) => {
    const nearest = nearestName(key, valid);
    const hint = nearest ? ` Did you mean "${nearest}"?` : "";
    return `"${quote(key)}" is not an argument of ${toolName}.${hint}`;
  });
  const more = keys.length - named.length;
  const counted = more > 0 ? ` And ${more} more unknown argument(s).` : "";
  return `${named.join(" ")}${counted} Valid arguments: ${valid.join(", ")}.`;
}

/** The valid name a misspelling most likely meant: same letters ignoring case and separators, else within 2 edits. */
export function nearestName(key: string, valid: readonly string[]): string | null {
  if (key.length > 64) return null;
  const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
  const squashed = squash(key);
  const same = valid.find((name) => squash(name) === squashed);
  if (same) return same;
  let best: { name: string; distance: number } | null = null;
  for (const name of valid) {
    const distance = editDistance(squashed, squash(name));
    if (distance <= 2 && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name ?? null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
