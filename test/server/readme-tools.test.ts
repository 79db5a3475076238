import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { replaceToolReference } from "../../src/docs/tool-reference.js";
import { allTools } from "../../src/tools/index.js";

describe("README tool reference", () => {
  it("is the one generated from the registry (run `npm run docs`)", () => {
    const readme = readFileSync(resolve(import.meta.dirname, "../../README.md"), "utf8");
    expect(readme).toBe(replaceToolReference(readme, allTools));
  });
});
