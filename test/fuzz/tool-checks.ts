import type { Defect, ToolCase } from "./arbitraries.js";
import { SentObject } from "./json-text.js";

/**
 * Whether an error text names what a case broke. The SDK's input check writes
 * "<message> at <field>" ("at targets[3]" for an item) and the server's own check "<field>: …";
 * an unknown key is quoted (control characters as "?", at most 100 characters, then "…").
 */
function namesDefect(text: string, toolCase: ToolCase, defect: Defect): boolean {
  switch (defect.kind) {
    case "unknownKey":
      return text.includes(`"${quotedKey(defect.field)}" is not an argument of ${toolCase.tool}`);
    case "arguments":
      return /\barguments\b/.test(text);
    case "unknownEnv":
      return text.includes(`Unknown env "${envOf(toolCase)}"`);
    case "badToken":
    case "unknownPlan":
      return text.includes(defect.field);
    default: {
      const field = escapeRegExp(defect.field);
      return new RegExp(
        `(?:\\bat ${field}(?:\\.\\d+|\\[\\d+\\])?(?:$|\\s)|(?:^|[\\s;:])${field}(?:\\.\\d+|\\[\\d+\\])?: )`,
        "m",
      ).test(text);
    }
  }
}

/**
 * The defects an error must name: every schema defect when there are at most three (zod
 * reports them all at once), at least one when there are more (a bounded reply cannot list
 * 3,000 unknown keys); without schema defects, the tool's own refusal must name one of its
 * reasons. Returns what is missing, or null when the text is fine.
 */
export function unnamedDefects(text: string, toolCase: ToolCase): Defect[] | null {
  const schema = toolCase.defects.filter((d) => d.schema);
  if (schema.length > 0) {
    const missing = schema.filter((d) => !namesDefect(text, toolCase, d));
    if (schema.length <= 3) return missing.length ? missing : null;
    return missing.length === schema.length ? missing.slice(0, 3) : null;
  }
  const unknownEnv = toolCase.defects.find((d) => d.kind === "unknownEnv");
  // The env is resolved before a tool runs, so an unknown env is what the refusal is about.
  if (unknownEnv) return namesDefect(text, toolCase, unknownEnv) ? null : [unknownEnv];
  if (toolCase.defects.length === 0) return null;
  return toolCase.defects.some((d) => namesDefect(text, toolCase, d)) ? null : toolCase.defects;
}

function quotedKey(key: string): string {
  const clean = key.replace(/\p{Cc}/gu, "?");
  return clean.length > 100 ? `${clean.slice(0, 100)}…` : clean;
}

function envOf(toolCase: ToolCase): string {
  if (!(toolCase.args instanceof SentObject)) return "";
  const env = toolCase.args.entries.filter(([key]) => key === "env").at(-1)?.[1];
  return typeof env === "string" ? env : "";
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
