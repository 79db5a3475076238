import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig, resolveEnv } from "../../src/config/load.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "vyaparai-config-"));
}

describe("built-in defaults", () => {
  it("carry today's prod names and the convention for dev and staging", () => {
    const config = parseConfig({});
    expect(Object.keys(config.environments).sort()).toEqual(["dev", "prod", "staging"]);
    const prod = resolveEnv(config, "prod");
    expect(prod.protected).toBe(true);
    expect(prod.region).toBe("ap-south-1");
    expect(prod.lambda.functionName).toBe("vyaparai-api-prod");
    expect(prod.lambda.artifactBucket).toBe("vyaparai-lambda-deployments");
    expect(prod.frontend.buckets).toEqual(["www.vyapaarai.com"]);
    expect(prod.frontend.distributionId).toBe("E1UY93SVXV8QOF");
    expect(prod.tables.expected).toHaveLength(9);
    expect(resolveEnv(config, "dev").protected).toBe(false);
    expect(resolveEnv(config, "staging").lambda.functionName).toBe("vyaparai-api-staging");
    expect(config.preflightMaxAgeMinutes).toBe(30);
  });
});

describe("merge", () => {
  it("deep-merges a file over the defaults, arrays replacing", () => {
    const config = parseConfig({
      environments: { prod: { lambda: { alias: "live" }, tables: { expected: ["orders"] } } },
      backend: { testCommand: "pytest" },
    });
    const prod = resolveEnv(config, "prod");
    expect(prod.lambda.alias).toBe("live");
    expect(prod.lambda.functionName).toBe("vyaparai-api-prod");
    expect(prod.tables.expected).toEqual(["orders"]);
    expect(config.backend.testCommand).toBe("pytest");
    expect(config.backend.dir).toBe("backend");
  });

  it("starts a new env from the naming convention, unprotected", () => {
    const config = parseConfig({ environments: { qa: { region: "eu-west-1" } } });
    const qa = resolveEnv(config, "qa");
    expect(qa.region).toBe("eu-west-1");
    expect(qa.protected).toBe(false);
    expect(qa.lambda.functionName).toBe("vyaparai-api-qa");
  });
});

describe("errors name the key and the fix", () => {
  it("unknown key", () => {
    expect(() => parseConfig({ environments: { prod: { lamda: {} } } })).toThrow(
      /environments\.prod: unknown key "lamda"; remove it or check the spelling/,
    );
  });
  it("a __proto__ key in the file is an unknown key, not a new prototype", () => {
    // JSON.parse makes an own "__proto__" key; assigned during the merge it would vanish and
    // make every env inherit `protected: false`.
    const dir = tempDir();
    writeFileSync(
      join(dir, "deploy.config.json"),
      '{"environments": {"prod": {"__proto__": {"protected": false}}}}',
    );
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(/environments\.prod: unknown key "__proto__"/);
  });
  it("wrong type", () => {
    expect(() => parseConfig({ preflightMaxAgeMinutes: "thirty" })).toThrow(
      /preflightMaxAgeMinutes: expected number, got string; set it to a number/,
    );
  });
  it("bad account id", () => {
    expect(() => parseConfig({ environments: { prod: { accountId: "123" } } })).toThrow(
      /environments\.prod\.accountId: must be a 12-digit AWS account id/,
    );
  });
  it("unknown env names the configured ones", () => {
    expect(() => resolveEnv(parseConfig({}), "production")).toThrow(
      /Unknown env "production"\. Configured envs: dev, prod, staging\./,
    );
  });
  it("invalid JSON names the file", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "deploy.config.json"), "{ nope");
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(/deploy\.config\.json is not valid JSON/);
  });
  it("a missing explicit file names the setting", () => {
    expect(() => loadConfig({ cwd: tempDir(), env: { VYAPARAI_DEPLOY_CONFIG: "missing.json" } })).toThrow(
      /missing\.json does not exist \(from VYAPARAI_DEPLOY_CONFIG\)/,
    );
  });
});

describe("discovery", () => {
  it("finds the config upward and makes its folder the app root", () => {
    const root = tempDir();
    writeFileSync(join(root, "deploy.config.json"), JSON.stringify({ readOnly: true }));
    const nested = join(root, "backend", "app");
    mkdirSync(nested, { recursive: true });
    const loaded = loadConfig({ cwd: nested, env: {} });
    expect(loaded.path).toBe(join(root, "deploy.config.json"));
    expect(loaded.appRoot).toBe(root);
    expect(loaded.config.readOnly).toBe(true);
  });
  it("--config wins over the env variable and discovery", () => {
    const root = tempDir();
    writeFileSync(join(root, "deploy.config.json"), JSON.stringify({ readOnly: true }));
    const other = join(root, "other.json");
    writeFileSync(other, JSON.stringify({ readOnly: false }));
    const loaded = loadConfig({ cwd: root, configPath: other, env: { VYAPARAI_DEPLOY_CONFIG: "x.json" } });
    expect(loaded.path).toBe(other);
    expect(loaded.config.readOnly).toBe(false);
  });
  it("uses CLAUDE_PROJECT_DIR as the app root when there is no file", () => {
    const project = tempDir();
    const loaded = loadConfig({ cwd: tmpdir(), env: { CLAUDE_PROJECT_DIR: project } });
    expect(loaded.path).toBeNull();
    expect(loaded.appRoot).toBe(project);
  });
});
