import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { allTools } from "../../src/tools/index.js";
import { BUILT_CLI } from "../support/stdio.js";

/** The built CLI (`npm test` builds first), run as a CI job would run it. */
function cli(args: string[], cwd: string) {
  const run = spawnSync(process.execPath, [BUILT_CLI, ...args], { cwd, encoding: "utf8", env: process.env });
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
});
