import { quote } from "../core/quote.js";
import { redactText } from "../core/redact.js";

/**
 * Reading terraform's human output when it fails. Everything returned here is untrusted
 * text (it can quote configuration, variable values, or a lock holder's name): callers put
 * it in its own bounded field, never in a summary.
 */

const MAX_ERROR_LINES = 40;
const MAX_LINE_LENGTH = 400;

/** Strips the diagnostic box drawing terraform prints even with -no-color. */
function plainLine(line: string): string {
  return line.replace(/^[\s│╷╵]+/, "").trimEnd();
}

/**
 * The lines that explain a failure: from the first `Error:` diagnostic to the end of the
 * output (warnings before it, like a missing CLI config file, are noise).
 */
export function errorLines(output: string): string[] {
  // Safety: redacted as a whole before any line is cut, so a key split over lines or cut at
  // MAX_LINE_LENGTH is still recognised.
  const lines = redactText(output).split(/\r?\n/).map(plainLine);
  const first = lines.findIndex((line) => /^Error:/.test(line));
  const relevant = first === -1 ? lines.slice(-MAX_ERROR_LINES) : lines.slice(first);
  const compact: string[] = [];
  for (const line of relevant) {
    if (line === "" && (compact.length === 0 || compact[compact.length - 1] === "")) continue;
    compact.push(line.length > MAX_LINE_LENGTH ? `${line.slice(0, MAX_LINE_LENGTH)}…` : line);
  }
  while (compact.length > 0 && compact[compact.length - 1] === "") compact.pop();
  return compact.slice(0, MAX_ERROR_LINES);
}

export interface StateLockInfo {
  id: string | null;
  path: string | null;
  operation: string | null;
  who: string | null;
  version: string | null;
  created: string | null;
}

/** The holder of the state lock when terraform could not acquire it, else null. */
export function heldStateLock(output: string): StateLockInfo | null {
  if (!/Error acquiring the state lock/i.test(output)) return null;
  const field = (name: string): string | null => {
    const match = new RegExp(`^[\\s│]*${name}:[ \\t]*(.*)$`, "m").exec(output);
    const value = match?.[1]?.trim();
    return value ? quote(value, MAX_LINE_LENGTH) : null;
  };
  return {
    id: field("ID"),
    path: field("Path"),
    operation: field("Operation"),
    who: field("Who"),
    version: field("Version"),
    created: field("Created"),
  };
}

/** Terraform refuses a saved plan whose state changed after it was made. */
export function isStalePlan(output: string): boolean {
  return /Saved plan is stale/i.test(output);
}
