import type * as z from "zod";
import { kebab } from "../core/cli-command.js";
import { DeployError } from "../core/errors.js";
import type { AnyToolDefinition } from "../tools/definition.js";

/** The kind of CLI flag a zod field becomes. */
type FlagKind = "boolean" | "number" | "string" | "array";

function baseKind(schema: z.ZodType): FlagKind {
  let current = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType } };
  while (
    current.def.innerType &&
    ["default", "optional", "nullable", "prefault"].includes(current.def.type)
  ) {
    current = current.def.innerType as typeof current;
  }
  switch (current.def.type) {
    case "boolean":
      return "boolean";
    case "number":
    case "int":
      return "number";
    case "array":
      return "array";
    default:
      return "string";
  }
}

export { kebab };

export interface ParsedToolArgs {
  args: Record<string, unknown>;
  json: boolean;
}

/**
 * Turns `--dry-run --targets a --targets b,c --attempts 3` into tool arguments using the
 * tool's own input schema, so CLI flags can never drift from the MCP contract. Values are
 * validated afterwards by the same zod schema the MCP path uses.
 */
export function parseToolFlags(tool: AnyToolDefinition, argv: string[]): ParsedToolArgs {
  const fields = new Map<string, { name: string; kind: FlagKind }>();
  for (const [name, schema] of Object.entries(tool.inputSchema)) {
    const field = { name, kind: baseKind(schema as z.ZodType) };
    fields.set(kebab(name), field);
    fields.set(name, field);
  }
  const args: Record<string, unknown> = {};
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--json") {
      json = true;
      continue;
    }
    if (!token.startsWith("--")) {
      throw new DeployError("INPUT_INVALID", `Unexpected argument "${token}". Flags look like --env dev.`);
    }
    const [rawName, inlineValue] = token.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const negated = rawName.startsWith("no-") && fields.get(rawName.slice(3))?.kind === "boolean";
    const field = fields.get(negated ? rawName.slice(3) : rawName);
    if (!field) {
      const known = [...new Set([...fields.values()].map((f) => `--${kebab(f.name)}`))].join(", ");
      throw new DeployError(
        "INPUT_INVALID",
        `Unknown flag --${rawName} for ${tool.name}. Known flags: ${known}, --json.`,
      );
    }
    if (field.kind === "boolean") {
      args[field.name] = negated ? false : inlineValue === undefined ? true : inlineValue !== "false";
      continue;
    }
    const value = inlineValue ?? argv[++i];
    if (value === undefined) throw new DeployError("INPUT_INVALID", `Flag --${rawName} needs a value.`);
    if (field.kind === "number") {
      const parsed = Number(value);
      if (!Number.isFinite(parsed))
        throw new DeployError("INPUT_INVALID", `Flag --${rawName} needs a number, got "${value}".`);
      args[field.name] = parsed;
    } else if (field.kind === "array") {
      const list = (args[field.name] as string[] | undefined) ?? [];
      list.push(...value.split(",").filter(Boolean));
      args[field.name] = list;
    } else {
      args[field.name] = value;
    }
  }
  return { args, json };
}

export function describeFlags(tool: AnyToolDefinition): string {
  return Object.entries(tool.inputSchema)
    .map(([name, schema]) => {
      const s = schema as z.ZodType & { description?: string };
      const kind = baseKind(s);
      const value = kind === "boolean" ? "" : kind === "array" ? " <a,b>" : ` <${kind}>`;
      return `  --${kebab(name)}${value}${s.description ? `  ${s.description}` : ""}`;
    })
    .join("\n");
}
