import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { GetFunctionCommand } from "@aws-sdk/client-lambda";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import { createBucket, createTestFunction } from "../support/aws-fixtures.js";
import { commitFixture, writeBackendFixture } from "../support/backend-fixture.js";
import { claudeHome, requireClaudeCode, runClaude, showRun } from "../support/claude-code.js";
import { useMoto } from "../support/moto.js";

/**
 * The README's install section, done as a newcomer would: pack this package, install the
 * tarball into a fresh app repository, run `init`, and use what it wrote — the MCP SDK client
 * through the generated .mcp.json, every README example line as written, the CLI's two-step
 * confirmation to prod on moto without VYAPARAI_DEPLOY_SECRET, and the real Claude Code's
 * `claude mcp list` and `claude plugin validate` on the installed package.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string };
const TARBALL = `${PKG.name}-${PKG.version}.tgz`;
const FUNCTION = "vyaparai-api-prod";
const BUCKET = `vyaparai-install-artifacts-${process.pid}`;

const moto = useMoto();
let app: string;
let health: LocalHealthServer;
let packedFiles: string[];
/** The app's processes: the emulator, dummy credentials, a private per-user config folder. */
let appEnv: Record<string, string>;

/** The fenced block between `<!-- NAME:start` and `<!-- NAME:end -->`, as command lines. */
function readmeBlock(name: string): string[] {
  const match = new RegExp(
    `<!-- ${name}:start[^>]*-->\\s*\`\`\`bash\\n([\\s\\S]*?)\`\`\`\\s*<!-- ${name}:end -->`,
  ).exec(README);
  if (!match) throw new Error(`README has no ${name} block`);
  return (match[1] as string)
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"));
}

/** One shell line in the app repo; asynchronous, so this process's health server keeps answering. */
async function sh(line: string, env: Record<string, string> = appEnv) {
  const run = await execa("sh", ["-c", line], {
    cwd: app,
    env,
    extendEnv: false,
    reject: false,
    timeout: 300_000,
  });
  return { code: run.exitCode ?? null, stdout: String(run.stdout), stderr: String(run.stderr) };
}

/** Claude Code's documented .mcp.json expansion: ${VAR} and ${VAR:-default}. */
function expandLikeClaudeCode(values: Record<string, string>, environment: Record<string, string>) {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      key,
      value.replace(/\$\{([^}:]+)(?::-([^}]*))?\}/g, (_whole, name: string, fallback: string | undefined) => {
        return environment[name] ?? fallback ?? "";
      }),
    ]),
  );
}

async function listTools(command: string, args: string[], env: Record<string, string>): Promise<string[]> {
  const transport = new StdioClientTransport({ command, args, cwd: app, env, stderr: "pipe" });
  const client = new Client({ name: "install-test", version: "0.0.0" });
  await client.connect(transport);
  try {
    return (await client.listTools()).tools.map((tool) => tool.name);
  } finally {
    await client.close();
  }
}

async function liveCodeSha256(): Promise<string> {
  const lambda = await moto.current.clients().lambda();
  const out = await lambda.send(new GetFunctionCommand({ FunctionName: FUNCTION }));
  return out.Configuration?.CodeSha256 as string;
}

beforeAll(async () => {
  // `npm test` built dist/ moments ago; packing with scripts would rebuild it under the
  // other test files' feet, so the test packs what is built.
  const packDir = mkdtempSync(join(tmpdir(), "vyaparai-pack-"));
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", packDir], {
      cwd: ROOT,
      encoding: "utf8",
    }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = (packed[0]?.files ?? []).map((f) => f.path);

  app = mkdtempSync(join(tmpdir(), "vyaparai-install-app-"));
  copyFileSync(join(packDir, packed[0]?.filename as string), join(app, TARBALL));
  writeFileSync(
    join(app, "package.json"),
    `${JSON.stringify({ name: "vyapaarai-app", private: true }, null, 2)}\n`,
  );
  writeFileSync(join(app, ".gitignore"), `node_modules/\n${TARBALL}\n`);

  const lambda = await moto.current.clients().lambda();
  await createTestFunction(moto.current, lambda, { name: FUNCTION });
  await createBucket(await moto.current.clients().s3(), BUCKET);
  health = await startHealthServer();
  appEnv = {
    PATH: process.env.PATH as string,
    HOME: process.env.HOME as string,
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_REGION: "ap-south-1",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_ENDPOINT_URL: moto.current.endpoint,
    XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), "vyaparai-install-xdg-")),
    ...(process.env.npm_config_cache ? { npm_config_cache: process.env.npm_config_cache } : {}),
  };
}, 120_000);

afterAll(async () => {
  await health?.close();
});

describe("the packed package installed into an app repository", () => {
  it("packs dist, the schema, the slash command, the plugin and the MCP entry", () => {
    for (const file of [
      "dist/main.js",
      "dist/cli.js",
      "dist/hooks/guard-flags.js",
      "schema/deploy.config.schema.json",
      ".claude/commands/deploy.md",
      ".claude-plugin/plugin.json",
      ".claude-plugin/marketplace.json",
      "hooks/hooks.json",
      ".mcp.json",
      "mcp.json",
      "README.md",
    ]) {
      expect(packedFiles).toContain(file);
    }
    expect(packedFiles.some((file) => file.startsWith("test/") || file.startsWith("src/"))).toBe(false);
  });

  it("installs with working bins and runs init, exactly as the README's install block says", async () => {
    for (const line of readmeBlock("install")) {
      const run = await sh(line);
      expect(run.code, `${line}\n${run.stdout}\n${run.stderr}`).toBe(0);
    }
    // init's files, and the ignore entries that keep Claude Code's local files out of git.
    for (const file of [".claude/commands/deploy.md", ".mcp.json", "deploy.config.json"]) {
      expect(statSync(join(app, file)).isFile()).toBe(true);
    }
    expect(readFileSync(join(app, ".gitignore"), "utf8")).toContain(".claude/settings.local.json");
  }, 300_000);

  it("connects the MCP SDK client through the generated .mcp.json: 10 tools, 6 with --read-only", async () => {
    const entry = (
      JSON.parse(readFileSync(join(app, ".mcp.json"), "utf8")) as {
        mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
      }
    ).mcpServers["vyaparai-deploy"];
    if (!entry) throw new Error("init wrote no vyaparai-deploy entry");
    const env = { ...appEnv, ...expandLikeClaudeCode(entry.env, appEnv) };
    expect(await listTools(entry.command, entry.args, env)).toHaveLength(10);
    const readOnly = await listTools(entry.command, [...entry.args, "--read-only"], env);
    expect(readOnly.sort()).toEqual(
      ["deploy_status", "health_check", "list_tables", "preflight", "tail_logs", "terraform_plan"].sort(),
    );
    const fromEnv = await listTools(entry.command, entry.args, { ...env, VYAPARAI_DEPLOY_READ_ONLY: "1" });
    expect(fromEnv).toHaveLength(6);
  }, 120_000);

  it("runs every README example line; the CLI's two steps deploy prod without VYAPARAI_DEPLOY_SECRET", async () => {
    // The app's own config and backend, committed: what a prod deploy needs.
    writeFileSync(
      join(app, "deploy.config.json"),
      `${JSON.stringify(
        {
          environments: {
            prod: {
              lambda: { functionName: FUNCTION, artifactBucket: BUCKET, artifactPrefix: "backend/" },
              frontend: {
                buckets: [`vyaparai-install-site-${process.pid}`],
                distributionId: null,
                url: null,
              },
              health: [{ name: "api", url: health.url, expectStatus: 200, expectJson: { status: "ok" } }],
            },
          },
          backend: { testCommand: "python3 -c \"print('1 passed')\"" },
        },
        null,
        2,
      )}\n`,
    );
    writeBackendFixture({ appRoot: app });
    commitFixture(app, "app with vyaparai-deploy");
    const before = await liveCodeSha256();

    const lines = readmeBlock("examples");
    expect(lines).toHaveLength(6);
    const servers = lines.filter((line) => line.includes("vyaparai-deploy-mcp"));
    const expectedTools = [10, 6, 6];
    for (const [index, line] of servers.entries()) {
      const command = line.replace(/\s+#.*$/, "");
      const tools = await listTools("sh", ["-c", command], appEnv);
      expect(tools, command).toHaveLength(expectedTools[index] as number);
    }

    const [preflight, deploy, healthCheck] = lines.filter((line) => !line.includes("vyaparai-deploy-mcp"));
    const preflightRun = await sh(preflight as string);
    expect(preflightRun.code, preflightRun.stdout + preflightRun.stderr).toBe(0);

    const planned = await sh(deploy as string);
    expect(planned.code, planned.stdout + planned.stderr).toBe(3);
    expect(await liveCodeSha256()).toBe(before);
    const next = /^\s+(npx vyaparai-deploy deploy_lambda .*--confirmation-token \S+)$/m.exec(
      planned.stdout,
    )?.[1];
    expect(next, planned.stdout).toBeDefined();
    const confirmed = await sh(next as string);
    expect(confirmed.code, confirmed.stdout + confirmed.stderr).toBe(0);
    // Read back: the function now runs the app's package, not the seeded code.
    const after = await liveCodeSha256();
    expect(after).not.toBe(before);
    // The per-user secret was made on first use, private to the user.
    expect(statSync(join(appEnv.XDG_CONFIG_HOME as string, "vyaparai-deploy/secret")).mode & 0o777).toBe(
      0o600,
    );

    const healthRun = await sh(healthCheck as string);
    expect(healthRun.code, healthRun.stdout + healthRun.stderr).toBe(0);
  }, 300_000);

  it("is connected in the real Claude Code (claude mcp list), and the installed package validates as a plugin", (context) => {
    const claude = requireClaudeCode((note) => context.skip(note) as never);
    const home = claudeHome();
    // The person trusted the folder and approved the project's server (what the prompts write).
    writeFileSync(
      join(home, ".claude/.claude.json"),
      JSON.stringify({ projects: { [app]: { hasTrustDialogAccepted: true } } }),
    );
    mkdirSync(join(app, ".claude"), { recursive: true });
    writeFileSync(
      join(app, ".claude/settings.local.json"),
      `${JSON.stringify({ enabledMcpjsonServers: ["vyaparai-deploy"] }, null, 2)}\n`,
    );
    const list = runClaude(claude, ["mcp", "list"], { home, cwd: app });
    expect(list.stdout, showRun(["mcp", "list"], list)).toMatch(/vyaparai-deploy:.*Connected/);
    // A config mistake no longer fails the connection: the server starts and every call
    // answers with the error (tested through a tool call in test/server/startup.test.ts).
    const config = readFileSync(join(app, "deploy.config.json"), "utf8");
    writeFileSync(join(app, "deploy.config.json"), '{ "environments": { "prod": { "lamda": {} } } }\n');
    const broken = runClaude(claude, ["mcp", "list"], { home, cwd: app });
    writeFileSync(join(app, "deploy.config.json"), config);
    expect(broken.stdout, showRun(["mcp", "list"], broken)).toMatch(/vyaparai-deploy:.*Connected/);
    const plugin = join(app, "node_modules", PKG.name);
    const validate = runClaude(claude, ["plugin", "validate", plugin], { home });
    expect(validate.status, showRun(["plugin", "validate", plugin], validate)).toBe(0);
    // The approval file is ignored by git: the tree stays clean for the next deploy.
    expect(execFileSync("git", ["status", "--porcelain"], { cwd: app, encoding: "utf8" })).toBe("");
  }, 180_000);
});
