import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { allTools } from "../../src/tools/index.js";
import { BUILT_CLI } from "../support/stdio.js";

/** The built CLI (`npm test` builds first), run as a CI job would run it. */
function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const run = spawnSync(process.execPath, [BUILT_CLI, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

let app: string;
beforeAll(() => {
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run npm run build first.`);
  app = mkdtempSync(join(tmpdir(), "vyaparai-cli-"));
  writeFileSync(join(app, "deploy.config.json"), "{}\n");
});

describe("the built CLI", () => {
  it("exits 1 with the unknown-env message as JSON", () => {
    const run = cli(["list_tables", "--env", "nope", "--json"], app);
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout) as { summary: string; error: { code: string } };
    expect(out.error.code).toBe("UNKNOWN_ENV");
    expect(out.summary).toContain('Unknown env "nope". Configured envs: dev, prod, staging.');
  });

  it("lists the tools with their kind", () => {
    const run = cli(["tools"], app);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(allTools.length);
    for (const tool of allTools) {
      const line = lines.find((l) => l.startsWith(`${tool.name} `));
      expect(line).toContain(tool.annotations.readOnlyHint ? "read-only" : "destructive");
    }
  });

  it("exits 2 on a bad flag, naming the known ones", () => {
    const run = cli(["deploy_lambda", "--env", "dev", "--forse"], app);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Unknown flag --forse for deploy_lambda. Known flags:");
    expect(run.stdout).toBe("");
  });

  it("runs init as a subcommand", () => {
    const repo = mkdtempSync(join(tmpdir(), "vyaparai-cli-init-"));
    const run = cli(["init"], repo);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^created\s+\.claude\/commands\/deploy\.md/m);
    expect(existsSync(join(repo, ".mcp.json"))).toBe(true);
    expect(cli(["init", repo, "--bogus"], app).code).toBe(2);
  });

  it("refuses the tools that change AWS in read-only mode, from the flag, the env var or the config", () => {
    const readOnlyApp = mkdtempSync(join(tmpdir(), "vyaparai-cli-ro-"));
    writeFileSync(join(readOnlyApp, "deploy.config.json"), '{ "readOnly": true }\n');
    const runs = [
      cli(["deploy_lambda", "--env", "dev", "--read-only"], app),
      cli(["rollback", "--env", "dev", "--component", "lambda"], app, { VYAPARAI_DEPLOY_READ_ONLY: "1" }),
      cli(["deploy_frontend", "--env", "dev", "--dry-run"], readOnlyApp),
    ];
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /changes AWS, and read-only mode is on \((--read-only|VYAPARAI_DEPLOY_READ_ONLY|readOnly in the config)\)\. Nothing was run\./,
      );
      expect(run.stdout).toBe("");
    }
  });

  it("never prints the AWS SDK's Node-version notice", () => {
    const run = cli(["list_tables", "--env", "dev", "--json"], app, {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "",
      AWS_ENDPOINT_URL: "http://127.0.0.1:9",
      AWS_MAX_ATTEMPTS: "1",
    });
    expect(run.stderr).not.toContain("NodeVersionSupportWarning");
    expect(run.stdout).not.toContain("NodeVersionSupportWarning");
  });
});
