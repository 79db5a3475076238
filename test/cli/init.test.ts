import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { describe, expect, it } from "vitest";
import { runInit, starterConfigText } from "../../src/cli/init.js";
import { parseConfig } from "../../src/config/load.js";

const ROOT = resolve(import.meta.dirname, "../..");
const SHIPPED_COMMAND = readFileSync(join(ROOT, ".claude/commands/deploy.md"), "utf8");
const SHIPPED_MCP = readFileSync(join(ROOT, "mcp.json"), "utf8");
const SHIPPED_ENTRY = (JSON.parse(SHIPPED_MCP) as { mcpServers: Record<string, unknown> }).mcpServers[
  "vyaparai-deploy"
];
const FILES = [".claude/commands/deploy.md", ".mcp.json", "deploy.config.json", ".gitignore"];

function appRepo(): string {
  return mkdtempSync(join(tmpdir(), "vyaparai-init-"));
}

function init(argv: string[], cwd = process.cwd()) {
  let stdout = "";
  let stderr = "";
  const code = runInit(argv, {
    cwd,
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

function snapshot(dir: string): Record<string, { text: string; mtimeMs: number }> {
  return Object.fromEntries(
    FILES.map((file) => {
      const path = join(dir, file);
      return [file, { text: readFileSync(path, "utf8"), mtimeMs: statSync(path).mtimeMs }];
    }),
  );
}

function actions(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split("\n")
      .map((line) => /^(\w+)\s+(\S+):/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[2] as string, m[1] as string]),
  );
}

describe("vyaparai-deploy init", () => {
  it("installs the shipped files into a fresh directory", () => {
    const dir = appRepo();
    const { code, stdout } = init([dir]);
    expect(code).toBe(0);
    expect(actions(stdout)).toEqual({
      ".claude/commands/deploy.md": "created",
      ".mcp.json": "created",
      "deploy.config.json": "created",
      ".gitignore": "created",
    });
    expect(readFileSync(join(dir, ".gitignore"), "utf8").split("\n")).toEqual(
      expect.arrayContaining([".claude/settings.local.json", "CLAUDE.local.md"]),
    );
    expect(readFileSync(join(dir, ".claude/commands/deploy.md"), "utf8")).toBe(SHIPPED_COMMAND);
    expect(readFileSync(join(dir, ".mcp.json"), "utf8")).toBe(SHIPPED_MCP);
    const config = JSON.parse(readFileSync(join(dir, "deploy.config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(config.$schema).toBe("./node_modules/vyaparai-deploy/schema/deploy.config.schema.json");
    // The starter is a valid config: the built-in envs apply.
    expect(Object.keys(parseConfig(config).environments).sort()).toEqual(["dev", "prod", "staging"]);
  });

  it("defaults to the current directory and changes nothing on a second run", () => {
    const dir = appRepo();
    expect(init([], dir).code).toBe(0);
    const before = snapshot(dir);
    const second = init([], dir);
    expect(second.code).toBe(0);
    expect(Object.values(actions(second.stdout))).toEqual([
      "unchanged",
      "unchanged",
      "unchanged",
      "unchanged",
    ]);
    expect(snapshot(dir)).toEqual(before);
  });

  it("keeps an edited slash command without --force and replaces it with --force", () => {
    const dir = appRepo();
    init([dir]);
    const path = join(dir, ".claude/commands/deploy.md");
    const edited = `${SHIPPED_COMMAND}\nAlways deploy on Fridays only.\n`;
    writeFileSync(path, edited);

    const kept = init([dir]);
    expect(kept.code).toBe(0);
    expect(actions(kept.stdout)[".claude/commands/deploy.md"]).toBe("kept");
    expect(kept.stdout).toContain("--force");
    expect(readFileSync(path, "utf8")).toBe(edited);

    const forced = init([dir, "--force"]);
    expect(forced.code).toBe(0);
    expect(actions(forced.stdout)[".claude/commands/deploy.md"]).toBe("replaced");
    expect(readFileSync(path, "utf8")).toBe(SHIPPED_COMMAND);
  });

  it("merges into an existing .mcp.json, keeping the other servers and keys", () => {
    const dir = appRepo();
    const other = { command: "uvx", args: ["some-other-mcp"], env: { LOG_LEVEL: "debug" } };
    writeFileSync(join(dir, ".mcp.json"), JSON.stringify({ mcpServers: { other }, extra: true }));

    const first = init([dir]);
    expect(first.code).toBe(0);
    expect(actions(first.stdout)[".mcp.json"]).toBe("updated");
    const merged = JSON.parse(readFileSync(join(dir, ".mcp.json"), "utf8"));
    expect(merged).toEqual({ mcpServers: { other, "vyaparai-deploy": SHIPPED_ENTRY }, extra: true });

    expect(actions(init([dir]).stdout)[".mcp.json"]).toBe("unchanged");
  });

  it("keeps a user's own vyaparai-deploy entry unless --force, and never drops other servers", () => {
    const dir = appRepo();
    const mine = { command: "node", args: ["/opt/vyaparai-deploy/dist/main.js", "--read-only"] };
    const other = { command: "other-mcp" };
    writeFileSync(join(dir, ".mcp.json"), JSON.stringify({ mcpServers: { other, "vyaparai-deploy": mine } }));

    expect(actions(init([dir]).stdout)[".mcp.json"]).toBe("kept");
    expect(JSON.parse(readFileSync(join(dir, ".mcp.json"), "utf8")).mcpServers["vyaparai-deploy"]).toEqual(
      mine,
    );

    expect(actions(init([dir, "--force"]).stdout)[".mcp.json"]).toBe("replaced");
    expect(JSON.parse(readFileSync(join(dir, ".mcp.json"), "utf8")).mcpServers).toEqual({
      other,
      "vyaparai-deploy": SHIPPED_ENTRY,
    });
  });

  it("never touches an existing deploy.config.json, even with --force", () => {
    const dir = appRepo();
    const own = `${JSON.stringify({ environments: { prod: { accountId: "123456789012" } } })}\n`;
    writeFileSync(join(dir, "deploy.config.json"), own);
    const result = init([dir, "--force"]);
    expect(actions(result.stdout)["deploy.config.json"]).toBe("kept");
    expect(readFileSync(join(dir, "deploy.config.json"), "utf8")).toBe(own);
    expect(starterConfigText()).not.toBe(own);
  });

  it("refuses to rewrite an .mcp.json that is not valid JSON, even with --force", () => {
    const dir = appRepo();
    const broken = '{ "mcpServers": { "other": { "command": "x" }, } // trailing comma\n';
    writeFileSync(join(dir, ".mcp.json"), broken);
    const result = init([dir, "--force", "--json"]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      files: Array<{ path: string; action: string }>;
    };
    expect(report.ok).toBe(false);
    expect(report.files.find((f) => f.path === ".mcp.json")?.action).toBe("failed");
    expect(readFileSync(join(dir, ".mcp.json"), "utf8")).toBe(broken);
    // The other files are still installed.
    expect(readFileSync(join(dir, ".claude/commands/deploy.md"), "utf8")).toBe(SHIPPED_COMMAND);
  });

  it("adds the ignore entries to an existing .gitignore once, keeping its lines", () => {
    const dir = appRepo();
    writeFileSync(join(dir, ".gitignore"), "node_modules/\n/CLAUDE.local.md");
    expect(init([dir]).code).toBe(0);
    const after = readFileSync(join(dir, ".gitignore"), "utf8");
    expect(after.split("\n").filter((line) => line.includes("CLAUDE.local.md"))).toEqual([
      "/CLAUDE.local.md",
    ]);
    expect(after).toMatch(/^node_modules\/\n\/CLAUDE\.local\.md\n/);
    expect(after.split("\n")).toContain(".claude/settings.local.json");
    expect(actions(init([dir]).stdout)[".gitignore"]).toBe("unchanged");
    expect(readFileSync(join(dir, ".gitignore"), "utf8")).toBe(after);
  });

  it("answers usage errors with exit code 2 and a missing directory with 1", () => {
    const unknown = init(["--frce"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown flag --frce for init. Known flags: --force, --json.");
    expect(init(["a", "b"]).code).toBe(2);
    const missing = init([join(appRepo(), "no-such-dir")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("is not a directory");
    expect(init(["--help"]).stdout).toContain("Usage: vyaparai-deploy init [dir]");
  });

  it("installs a .mcp.json whose command starts the server from the app repo (built dist/)", async () => {
    const dir = appRepo();
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true }));
    // A local install, as an app repo has it: node_modules/.bin/vyaparai-deploy-mcp.
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", ROOT], {
      cwd: dir,
      stdio: "pipe",
    });
    expect(init([dir]).code).toBe(0);
    const server = (
      JSON.parse(readFileSync(join(dir, ".mcp.json"), "utf8")) as {
        mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
      }
    ).mcpServers["vyaparai-deploy"];
    if (!server) throw new Error("no vyaparai-deploy entry");
    const subfolder = join(dir, "backend");
    mkdirSync(subfolder);
    const transport = new StdioClientTransport({
      command: server.command,
      args: server.args,
      cwd: subfolder,
      // As Claude Code does: its own environment plus the entry's env, ${VAR:-default} expanded.
      env: { ...(process.env as Record<string, string>), ...expandLikeClaudeCode(server.env, {}) },
      stderr: "pipe",
    });
    const client = new Client({ name: "init-test", version: "0.0.0" });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("deploy_lambda");
      expect(tools).toHaveLength(10);
    } finally {
      await client.close();
    }
  });
});

/** Claude Code's documented .mcp.json expansion: ${VAR} and ${VAR:-default}. */
function expandLikeClaudeCode(
  values: Record<string, string>,
  environment: Record<string, string | undefined>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      key,
      value.replace(/\$\{([^}:]+)(?::-([^}]*))?\}/g, (whole, name: string, fallback: string | undefined) => {
        const found = environment[name];
        if (found !== undefined) return found;
        if (fallback !== undefined) return fallback;
        throw new Error(`${whole} is unset and has no default: Claude Code would reject the config`);
      }),
    ]),
  );
}
