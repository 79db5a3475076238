import { describe, expect, it } from "vitest";
import { z } from "zod";
import { selectTools } from "../../src/server/registry.js";
import { allTools } from "../../src/tools/index.js";

const CONTRACT_TOOLS = [
  "preflight",
  "deploy_lambda",
  "deploy_frontend",
  "terraform_plan",
  "terraform_apply",
  "health_check",
  "tail_logs",
  "list_tables",
  "rollback",
  "deploy_status",
];

describe("tool registry", () => {
  it("holds every tool of the contract exactly once", () => {
    const names = allTools.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of CONTRACT_TOOLS) expect(names).toContain(name);
  });

  it.each(allTools.map((t) => [t.name, t] as const))(
    "%s declares annotations, description, schemas",
    (_n, tool) => {
      const keys = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const;
      for (const key of keys) expect(typeof tool.annotations[key]).toBe("boolean");
      expect(tool.annotations.readOnlyHint).toBe(!tool.annotations.destructiveHint);
      expect(tool.title.length).toBeGreaterThan(3);
      expect(tool.description.length).toBeGreaterThan(40);
      // Claude Code truncates descriptions past 2 KB.
      expect(tool.description.length).toBeLessThan(2048);
      expect(Object.keys(tool.outputSchema)).toContain("summary");
      expect(Object.keys(tool.inputSchema)).toContain("env");
    },
  );

  it("read-only mode keeps exactly the read-only tools", () => {
    const visible = selectTools(allTools, { readOnly: true }).map((t) => t.name);
    expect(visible.sort()).toEqual(
      allTools
        .filter((t) => t.annotations.readOnlyHint)
        .map((t) => t.name)
        .sort(),
    );
    expect(visible).not.toContain("deploy_lambda");
    expect(visible).not.toContain("rollback");
    expect(visible).toHaveLength(6);
    expect(selectTools(allTools, { readOnly: false })).toHaveLength(allTools.length);
  });
});

describe("schema snapshots (change only on purpose: vitest -u)", () => {
  it.each(allTools.map((t) => [t.name, t] as const))("%s", async (name, tool) => {
    const snapshot = {
      name: tool.name,
      title: tool.title,
      annotations: tool.annotations,
      inputSchema: z.toJSONSchema(z.object(tool.inputSchema), { io: "input" }),
      outputSchema: z.toJSONSchema(z.object(tool.outputSchema)),
    };
    await expect(`${JSON.stringify(snapshot, null, 2)}\n`).toMatchFileSnapshot(
      `../__toolsnaps__/${name}.snap.json`,
    );
  });
});
