import { cpSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { claudeHome, requireClaudeCode, runClaude, showRun } from "../support/claude-code.js";

/**
 * The package root is a Claude Code plugin and a one-plugin marketplace. These tests run the
 * real Claude Code CLI (pinned in test/support/claude-code.ts) against it, each run with a
 * private home so nothing touches the developer's ~/.claude.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const PLUGIN = "vyaparai-deploy";
// biome-ignore lint/suspicious/noTemplateCurlyInString: Claude Code expands it, not JavaScript
const HOOK_COMMAND = 'node "${CLAUDE_PLUGIN_ROOT}/dist/hooks/guard-flags.js"';

interface ValidateReport {
  success: boolean;
  manifest: { file: string; type: string; errors: unknown[]; warnings: unknown[] };
  provides: {
    hooks: Array<{ event: string; matcher: string; type: string; command: string }>;
    mcpServers: Array<{ name: string; type: string; target: string; args: string[] }>;
    commands: string[];
  } | null;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(resolve(ROOT, path), "utf8")) as T;
}

function validate(bin: string, target: string): ValidateReport {
  const args = ["plugin", "validate", "--strict", "--json", target];
  const run = runClaude(bin, args, { home: claudeHome() });
  expect(run.status, showRun(args, run)).toBe(0);
  const report = JSON.parse(run.stdout) as ValidateReport;
  expect(report.success, showRun(args, run)).toBe(true);
  expect(report.manifest.errors).toEqual([]);
  expect(report.manifest.warnings).toEqual([]);
  return report;
}

describe("the Claude Code plugin manifests", () => {
  const pkg = readJson<{ name: string; version: string; license: string; files: string[] }>("package.json");
  const plugin = readJson<Record<string, unknown>>(".claude-plugin/plugin.json");
  const marketplace = readJson<{
    name: string;
    owner: { name: string };
    plugins: Array<{ name: string; source: string; version?: string }>;
  }>(".claude-plugin/marketplace.json");

  it("describe the package itself: same name, version and license, one source for /deploy", () => {
    expect(plugin.name).toBe(pkg.name);
    expect(plugin.version).toBe(pkg.version);
    expect(plugin.license).toBe(pkg.license);
    expect(plugin.commands).toEqual(["./.claude/commands/deploy.md"]);
    expect(plugin.hooks).toBe("./hooks/hooks.json");
    // The MCP server comes from the package root's .mcp.json, the plugin default location.
    expect(plugin).not.toHaveProperty("mcpServers");
    expect(marketplace.name).toBe(PLUGIN);
    expect(marketplace.owner.name).toBeTruthy();
    expect(marketplace.plugins).toHaveLength(1);
    expect(marketplace.plugins[0]).toMatchObject({ name: PLUGIN, source: "./", version: pkg.version });
  });

  it("ship in the npm package, so `claude plugin marketplace add ./node_modules/vyaparai-deploy` works", () => {
    expect(pkg.files).toEqual(
      expect.arrayContaining([".claude-plugin", "hooks", ".claude/commands", ".mcp.json", "dist"]),
    );
  });
});

describe("claude plugin validate (real Claude Code)", () => {
  it("passes --strict on the package root, and sees the hook, the MCP server and /deploy", (ctx) => {
    const bin = requireClaudeCode((note) => ctx.skip(note));
    const report = validate(bin, ROOT);
    const provides = report.provides;
    expect(provides).not.toBeNull();
    const hooks = readJson<{ hooks: { PreToolUse: Array<{ matcher: string }> } }>("hooks/hooks.json");
    expect(provides?.hooks).toEqual([
      {
        event: "PreToolUse",
        matcher: hooks.hooks.PreToolUse[0]?.matcher,
        type: "command",
        command: HOOK_COMMAND,
      },
    ]);
    expect(provides?.mcpServers.map((server) => [server.name, server.type, server.target])).toEqual([
      [PLUGIN, "stdio", "npx"],
    ]);
    expect(provides?.mcpServers[0]?.args).toContain("vyaparai-deploy-mcp");
    expect(provides?.commands).toEqual([`${PLUGIN}:deploy`]);
  });

  it("passes --strict on the plugin manifest and on the marketplace manifest", (ctx) => {
    const bin = requireClaudeCode((note) => ctx.skip(note));
    expect(validate(bin, join(ROOT, ".claude-plugin/plugin.json")).manifest.type).toBe("plugin");
    expect(validate(bin, join(ROOT, ".claude-plugin/marketplace.json")).manifest.type).toBe("marketplace");
  });

  it("installs from the package in node_modules as documented", (ctx) => {
    const pkg = readJson<{ version: string }>("package.json");
    const bin = requireClaudeCode((note) => ctx.skip(note));
    const home = claudeHome();
    // A project that ran `npm install -D vyaparai-deploy`: the plugin's files under node_modules.
    const project = join(home, "project");
    const installed = join(project, "node_modules", PLUGIN);
    mkdirSync(join(installed, ".claude"), { recursive: true });
    for (const path of [".claude-plugin", "hooks", ".mcp.json", "package.json"]) {
      cpSync(join(ROOT, path), join(installed, path), { recursive: true });
    }
    cpSync(join(ROOT, ".claude/commands"), join(installed, ".claude/commands"), { recursive: true });

    const steps = [
      ["plugin", "marketplace", "add", `./node_modules/${PLUGIN}`],
      ["plugin", "install", `${PLUGIN}@${PLUGIN}`],
    ];
    for (const args of steps) {
      const run = runClaude(bin, args, { home, cwd: project });
      expect(run.status, showRun(args, run)).toBe(0);
    }
    const listArgs = ["plugin", "list", "--json"];
    const list = runClaude(bin, listArgs, { home, cwd: project });
    expect(list.status, showRun(listArgs, list)).toBe(0);
    const plugins = JSON.parse(list.stdout) as Array<{
      id: string;
      version: string;
      enabled: boolean;
      installPath: string;
      mcpServers?: Record<string, { command: string; args: string[] }>;
    }>;
    const entry = plugins.find((p) => p.id === `${PLUGIN}@${PLUGIN}`);
    expect(entry, showRun(listArgs, list)).toMatchObject({ version: pkg.version, enabled: true });
    expect(Object.keys(entry?.mcpServers ?? {})).toEqual([PLUGIN]);
    expect(entry?.mcpServers?.[PLUGIN]?.args).toContain("vyaparai-deploy-mcp");
    for (const file of ["hooks/hooks.json", ".claude/commands/deploy.md", ".claude-plugin/plugin.json"]) {
      expect(existsSync(join(entry?.installPath ?? "", file)), `${file} in the plugin cache`).toBe(true);
    }
  });
});
