import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { configJsonSchemaText } from "../../src/config/json-schema.js";

describe("shipped JSON Schema", () => {
  it("matches the zod schema (run `npm run schema` after changing src/config/schema.ts)", () => {
    const committed = readFileSync(
      resolve(import.meta.dirname, "../../schema/deploy.config.schema.json"),
      "utf8",
    );
    expect(committed).toBe(configJsonSchemaText());
  });

  it("describes environments and rejects unknown keys", () => {
    const schema = JSON.parse(configJsonSchemaText());
    expect(schema.properties.environments).toBeDefined();
    expect(schema.additionalProperties).toBe(false);
  });
});
