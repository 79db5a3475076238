import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { parseConfig } from "../../src/config/load.js";
import { DeployError } from "../../src/core/errors.js";
import { invokeTool, parseArguments } from "../../src/server/invoke.js";
import { createRuntime } from "../../src/server/runtime.js";
import type { AnyToolDefinition } from "../../src/tools/definition.js";
import { healthCheckTool } from "../../src/tools/health-check.js";
import { allTools } from "../../src/tools/index.js";
import { listTablesTool } from "../../src/tools/list-tables.js";
import { preflightTool } from "../../src/tools/preflight.js";
import { rollbackTool } from "../../src/tools/rollback.js";
import { strictInputOf } from "../../src/tools/strict-input.js";
import { tailLogsTool } from "../../src/tools/tail-logs.js";
import { terraformApplyTool } from "../../src/tools/terraform-apply.js";
import { terraformPlanTool } from "../../src/tools/terraform-plan.js";

type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  maxLength?: number;
  minLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
};

/** Every value a client can send, with the JSON pointer it sits at. */
function leaves(schema: JsonSchema, at: string): Array<[string, JsonSchema]> {
  const out: Array<[string, JsonSchema]> = [[at, schema]];
  for (const [key, child] of Object.entries(schema.properties ?? {}))
    out.push(...leaves(child, `${at}.${key}`));
  if (schema.items) out.push(...leaves(schema.items, `${at}[]`));
  for (const option of schema.anyOf ?? []) out.push(...leaves(option, at));
  return out;
}

function inputSchemaOf(tool: AnyToolDefinition): JsonSchema {
  return z.toJSONSchema(strictInputOf(tool), { io: "input" }) as JsonSchema;
}

function prop(tool: AnyToolDefinition, name: string): JsonSchema {
  const schema = inputSchemaOf(tool).properties?.[name];
  if (!schema) throw new Error(`${tool.name} has no ${name}`);
  return schema;
}

function refusal(tool: AnyToolDefinition, args: unknown): string {
  try {
    parseArguments(tool, args);
  } catch (error) {
    expect(error).toBeInstanceOf(DeployError);
    expect((error as DeployError).code).toBe("INPUT_INVALID");
    return (error as DeployError).message;
  }
  throw new Error(`${tool.name} accepted ${JSON.stringify(args).slice(0, 100)}`);
}

describe("every tool input is bounded in the schema a client sees", () => {
  it.each(allTools.map((t) => [t.name, t] as const))("%s", (_name, tool) => {
    for (const [at, node] of leaves(inputSchemaOf(tool), tool.name)) {
      if (node.type === "string" && node.enum === undefined && node.const === undefined) {
        expect(node.maxLength, `${at}: a string needs maxLength`).toBeTypeOf("number");
      }
      if (node.type === "number" || node.type === "integer") {
        expect(node.minimum, `${at}: a number needs a minimum`).toBeTypeOf("number");
        expect(node.maximum, `${at}: a number needs a maximum`).toBeTypeOf("number");
      }
      if (node.type === "array") expect(node.maxItems, `${at}: an array needs maxItems`).toBeTypeOf("number");
    }
  });

  it("uses the agreed limits", () => {
    for (const tool of allTools) {
      expect(prop(tool, "env")).toMatchObject({ maxLength: 40, pattern: "^[a-z][a-z0-9-]*$" });
      if (tool.inputSchema.confirmationToken) {
        expect(prop(tool, "confirmationToken")).toMatchObject({ minLength: 1, maxLength: 2000 });
      }
    }
    expect(prop(rollbackTool, "to")).toMatchObject({ maxLength: 64 });
    expect(prop(rollbackTool, "to").pattern).toBeTypeOf("string");
    expect(prop(tailLogsTool, "filterPattern").maxLength).toBe(1024);
    expect(prop(tailLogsTool, "since").maxLength).toBe(64);
    expect(prop(tailLogsTool, "until").maxLength).toBe(64);
    expect(prop(tailLogsTool, "requestId").maxLength).toBe(128);
    expect(prop(tailLogsTool, "limit")).toMatchObject({ minimum: 1, maximum: 500 });
    expect(prop(tailLogsTool, "followSeconds")).toMatchObject({ minimum: 0, maximum: 120 });
    expect(prop(terraformApplyTool, "planDigest")).toMatchObject({
      minLength: 64,
      maxLength: 64,
      pattern: "^[0-9a-f]{64}$",
    });
    expect(prop(terraformPlanTool, "targets").maxItems).toBe(20);
    expect(prop(healthCheckTool, "targets").maxItems).toBe(20);
    expect(prop(healthCheckTool, "attempts")).toMatchObject({ minimum: 1, maximum: 20 });
    expect(prop(preflightTool, "components").maxItems).toBe(3);
  });
});

describe("bad input is a short INPUT_INVALID naming the field; nothing runs", () => {
  it("a 1 MB env comes back as a short error", () => {
    const message = refusal(listTablesTool, { env: "a".repeat(1_000_000) });
    expect(message).toContain("env: an env name has at most 40 characters");
    expect(message.length).toBeLessThan(400);
    const upper = refusal(listTablesTool, { env: "Ä".repeat(1_000_000) });
    expect(upper.length).toBeLessThan(400);
  });

  it("a 5 MB `to` is refused without echoing it; odd shapes name the accepted ones", () => {
    const huge = refusal(rollbackTool, { component: "lambda", to: "1".repeat(5_000_000) });
    expect(huge).toMatch(/^Invalid arguments for rollback: to: "to" must be a release id/);
    expect(huge.length).toBeLessThan(600);
    for (const to of ["../../etc", "12; rm -rf /", "latest", "20261125T130512345Z-3fa9c1\n", "v"]) {
      expect(refusal(rollbackTool, { component: "frontend", to })).toMatch(
        /"to" must be a release id .* or a Lambda version number/,
      );
    }
    for (const to of [
      "20261125T130512345Z-3fa9c1",
      "20261125T130512Z-3fa9c1",
      "12",
      "v12",
      "version 12",
      "Version12",
    ]) {
      expect(() => parseArguments(rollbackTool, { component: "lambda", to }), to).not.toThrow();
    }
  });

  it("strings past their bound are refused by name", () => {
    expect(refusal(tailLogsTool, { since: "1".repeat(65) })).toMatch(
      /since: a time has at most 64 characters/,
    );
    expect(refusal(tailLogsTool, { until: "x".repeat(100_000) })).toMatch(
      /until: a time has at most 64 characters/,
    );
    expect(refusal(tailLogsTool, { filterPattern: "x".repeat(1025) })).toMatch(
      /filterPattern: a filterPattern has at most 1024/,
    );
    expect(refusal(tailLogsTool, { requestId: "r".repeat(129) })).toMatch(
      /requestId: a requestId has at most 128/,
    );
    expect(refusal(terraformApplyTool, { planDigest: "a".repeat(65) })).toMatch(
      /planDigest: a planDigest is the 64-hex/,
    );
    expect(refusal(terraformApplyTool, { planDigest: "A".repeat(64) })).toMatch(
      /planDigest: a planDigest is the 64-hex/,
    );
    const token = refusal(terraformApplyTool, {
      planDigest: "a".repeat(64),
      confirmationToken: "t".repeat(2001),
    });
    expect(token).toMatch(/confirmationToken: a confirmationToken has at most 2000 characters/);
    expect(refusal(terraformPlanTool, { targets: Array(21).fill("aws_s3_bucket.site") })).toMatch(
      /targets: at most 20 targets per plan/,
    );
    expect(refusal(terraformPlanTool, { targets: ["x".repeat(513)] })).toMatch(
      /targets\.0: a resource address has at most 512/,
    );
    expect(refusal(preflightTool, { components: ["backend", "frontend", "infra", "backend"] })).toMatch(
      /components: components lists each/,
    );
    expect(refusal(healthCheckTool, { targets: Array(21).fill("api") })).toMatch(
      /targets: at most 20 targets per call/,
    );
    expect(refusal(healthCheckTool, { targets: [`https://x.test/${"a".repeat(2048)}`] })).toMatch(
      /targets\.0: a target is a configured name or a URL of at most 2048/,
    );
    expect(refusal(healthCheckTool, { attempts: 1e308 })).toMatch(/attempts:/);
  });
});

describe("env names are own keys of the configured environments", () => {
  const runtime = createRuntime({
    loaded: { config: parseConfig({}), path: null, appRoot: process.cwd() },
    env: {},
  });
  afterAll(() => runtime.close());

  it.each(["constructor", "hasownproperty", "valueof", "prod-"])(
    "%s is an unknown env that names the configured ones",
    async (env) => {
      const result = await invokeTool(listTablesTool, { env }, runtime);
      expect(result.isError).toBe(true);
      expect(result.text).toContain(`Unknown env "${env}". Configured envs: dev, prod, staging.`);
      expect(result.text).not.toMatch(/Unexpected failure|is not iterable|undefined/);
    },
  );

  it.each(["__proto__", "toString", "CONSTRUCTOR"])("%s is refused by the env pattern", async (env) => {
    const result = await invokeTool(healthCheckTool, { env }, runtime);
    expect(result.isError).toBe(true);
    expect(result.structured.error).toMatchObject({ code: "INPUT_INVALID" });
    expect(result.text).toContain("env: an env name is lowercase letters, digits and dashes");
  });
});
