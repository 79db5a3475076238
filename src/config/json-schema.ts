import * as z from "zod";
import { configSchema } from "./schema.js";

/**
 * The JSON Schema shipped for editors (schema/deploy.config.schema.json), generated from the
 * zod schema so the two cannot drift; a test fails when the committed file is stale.
 * `io: "input"` describes what a person writes: keys with defaults are optional.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  dropMergedRequirements(schema, false);
  return {
    ...schema,
    $id: "https://vyaparai.invalid/deploy.config.schema.json",
    title: "vyaparai-deploy configuration (deploy.config.json)",
    description: "Deep-merged over the built-in VyapaarAI defaults: a file holds only what differs.",
  };
}

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/**
 * A file is merged over the defaults, so no object key is required in it, except inside
 * array items (arrays replace the default whole: a health target needs its name and url).
 */
function dropMergedRequirements(node: unknown, insideArrayItem: boolean): void {
  if (Array.isArray(node)) {
    for (const child of node) dropMergedRequirements(child, insideArrayItem);
    return;
  }
  if (!node || typeof node !== "object") return;
  const record = node as Record<string, unknown>;
  if (!insideArrayItem) delete record.required;
  for (const [key, child] of Object.entries(record))
    dropMergedRequirements(child, insideArrayItem || key === "items");
}
