import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { invokeTool } from "../../src/server/invoke.js";
import { readOnlyFrom, startRuntime, startupLine } from "../../src/server/startup.js";
import { userSecret, userSecretPath } from "../../src/server/user-secret.js";
import { listTablesTool } from "../../src/tools/list-tables.js";
import { preflightTool } from "../../src/tools/preflight.js";

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

describe("the per-user token secret", () => {
  it("is created once with mode 0600 and read back by the next process", () => {
    const env = { XDG_CONFIG_HOME: tempDir("vyaparai-xdg-") };
    const first = userSecret(env);
    const path = userSecretPath(env);
    expect(path).toBe(join(env.XDG_CONFIG_HOME, "vyaparai-deploy", "secret"));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(first).toHaveLength(32);
    expect(userSecret(env).equals(first)).toBe(true);
    expect(readFileSync(path, "utf8").trim()).toBe(first.toString("hex"));
  });

  it("refuses a secret others can read, and one that is not 64 hex characters", () => {
    const env = { XDG_CONFIG_HOME: tempDir("vyaparai-xdg-") };
    userSecret(env);
    const path = userSecretPath(env);
    chmodSync(path, 0o644);
    expect(() => userSecret(env)).toThrow(/only you can read \(chmod 600/);
    chmodSync(path, 0o600);
    writeFileSync(path, "short\n");
    expect(() => userSecret(env)).toThrow(/not 64 hex characters/);
  });

  it("lets tokens issued by one CLI process verify in the next; VYAPARAI_DEPLOY_SECRET wins", () => {
    const app = tempDir("vyaparai-app-");
    writeFileSync(join(app, "deploy.config.json"), "{}\n");
    const xdg = tempDir("vyaparai-xdg-");
    const start = (extra: Record<string, string> = {}) =>
      startRuntime({
        configPath: join(app, "deploy.config.json"),
        readOnlyFlag: false,
        env: { XDG_CONFIG_HOME: xdg, ...extra },
      }).runtime;
    const signed = start().signer.sign("body");
    expect(start().signer.verify("body", signed)).toBe(true);
    expect(start({ VYAPARAI_DEPLOY_SECRET: "explicit" }).signer.verify("body", signed)).toBe(false);
  });
});

describe("read-only mode", () => {
  it("is on from the flag, the env var or the config; an unrecognised value turns it on", () => {
    const off = { flag: false, env: {}, config: false };
    expect(readOnlyFrom(off).on).toBe(false);
    expect(readOnlyFrom({ ...off, flag: true })).toMatchObject({ on: true, source: "--read-only" });
    expect(readOnlyFrom({ ...off, env: { VYAPARAI_DEPLOY_READ_ONLY: "1" } })).toMatchObject({ on: true });
    expect(readOnlyFrom({ ...off, env: { VYAPARAI_DEPLOY_READ_ONLY: "false" } }).on).toBe(false);
    expect(readOnlyFrom({ ...off, env: { VYAPARAI_DEPLOY_READ_ONLY: "" } }).on).toBe(false);
    expect(readOnlyFrom({ ...off, config: true })).toMatchObject({
      on: true,
      source: "readOnly in the config",
    });
    const typo = readOnlyFrom({ ...off, env: { VYAPARAI_DEPLOY_READ_ONLY: "ture" } });
    expect(typo.on).toBe(true);
    expect(typo.warning).toMatch(/not recognised, so read-only mode is on/);
  });
});

describe("a broken config", () => {
  it("still starts, and every tool call answers with the key, the problem and the fix", async () => {
    const app = tempDir("vyaparai-app-");
    const path = join(app, "deploy.config.json");
    writeFileSync(path, JSON.stringify({ environments: { prod: { lambda: { functionNmae: "x" } } } }));
    const started = startRuntime({
      configPath: path,
      readOnlyFlag: false,
      env: { XDG_CONFIG_HOME: tempDir("x-") },
    });
    expect(started.runtime.configError).not.toBeNull();
    expect(startupLine("vyaparai-deploy-mcp", started)).toContain("CONFIG ERROR");
    for (const tool of [listTablesTool, preflightTool]) {
      const result = await invokeTool(tool, { env: "prod" }, started.runtime);
      expect(result.isError).toBe(true);
      expect(result.structured.error).toMatchObject({ code: "CONFIG_INVALID" });
      expect(String(result.structured.summary)).toContain("environments.prod.lambda");
      expect(String(result.structured.summary)).toContain('unknown key "functionNmae"');
    }
    started.runtime.close();
  });

  it("with no config file, says built-in defaults (the real names) are in use in the start-up line and every summary", async () => {
    const app = tempDir("vyaparai-app-");
    const started = startRuntime({
      configPath: undefined,
      readOnlyFlag: false,
      env: { XDG_CONFIG_HOME: tempDir("x-"), CLAUDE_PROJECT_DIR: app },
    });
    expect(started.runtime.loaded.path).toBeNull();
    expect(startupLine("vyaparai-deploy-mcp", started)).toMatch(
      /no deploy\.config\.json found from .*built-in defaults/,
    );
    const result = await invokeTool(listTablesTool, { env: "nope" }, started.runtime);
    expect(String(result.structured.summary)).toMatch(
      /Unknown env "nope".*no deploy\.config\.json was found/,
    );
    started.runtime.close();
  });
});
