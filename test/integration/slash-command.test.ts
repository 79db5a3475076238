import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { allTools } from "../../src/tools/index.js";

const ROOT = resolve(import.meta.dirname, "../..");
const COMMAND_FILE = resolve(ROOT, ".claude/commands/deploy.md");
const PREFIX = "mcp__vyaparai-deploy__";
/** The same tools when the server comes from the installed plugin: mcp__plugin_<plugin>_<server>__. */
const PLUGIN_PREFIX = "mcp__plugin_vyaparai-deploy_vyaparai-deploy__";
const PREFIXES = [PREFIX, PLUGIN_PREFIX];

/** The YAML subset slash-command frontmatter uses: `key: value` lines, optionally quoted. */
function parseCommand(text: string): { frontmatter: Record<string, string>; body: string } {
  const match = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(text);
  if (!match) throw new Error("deploy.md has no frontmatter block");
  const frontmatter: Record<string, string> = {};
  for (const line of (match[1] as string).split("\n")) {
    if (!line.trim()) continue;
    const pair = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (!pair) throw new Error(`frontmatter line is not "key: value": ${line}`);
    const raw = (pair[2] as string).trim();
    // Claude Code reads the block as YAML: a plain value must not hold ": " or " #".
    if (!/^(["']).*\1$/.test(raw)) {
      expect(raw, `frontmatter ${pair[1]} needs quotes`).not.toMatch(/: | #|^[-?:,[\]{}#&*!|>'"%@`]/);
    }
    frontmatter[pair[1] as string] = /^(["']).*\1$/.test(raw) ? raw.slice(1, -1) : raw;
  }
  return { frontmatter, body: match[2] as string };
}

const text = readFileSync(COMMAND_FILE, "utf8");
const { frontmatter, body } = parseCommand(text);
const toolsByName = new Map(allTools.map((tool) => [tool.name, tool]));
const allowed = (frontmatter["allowed-tools"] ?? "")
  .split(",")
  .map((entry) => entry.trim())
  .filter(Boolean);

/** Each `rollback` example call of the body, with its arguments. */
const rollbackCalls = [...body.matchAll(/mcp__vyaparai-deploy__rollback (\{[^`\n]*\})/g)].map(
  (match) => JSON.parse(match[1] as string) as Record<string, unknown>,
);

describe("the /deploy slash command", () => {
  it("declares a short description and the documented argument hint", () => {
    expect(frontmatter.description?.length).toBeGreaterThan(20);
    expect(frontmatter.description?.length, "a short description (shown in the / menu)").toBeLessThanOrEqual(
      80,
    );
    expect(frontmatter["argument-hint"]).toBe(
      "all|backend|frontend|lambda|infra [--env prod|staging|dev] [--plan|--apply]",
    );
    expect(body).toContain("$ARGUMENTS");
  });

  it("runs only when the person types it: the model may not invoke it", () => {
    expect(frontmatter["disable-model-invocation"]).toBe("true");
  });

  it("pre-approves exactly the read-only tools, each under its plain and its plugin name", () => {
    const byPrefix = new Map(PREFIXES.map((prefix) => [prefix, [] as string[]]));
    for (const entry of allowed) {
      const prefix = PREFIXES.find((p) => entry.startsWith(p));
      expect(prefix, `${entry} is not a vyaparai-deploy MCP tool`).toBeDefined();
      byPrefix.get(prefix as string)?.push(entry.slice((prefix as string).length));
    }
    expect(new Set(allowed).size, "no entry twice").toBe(allowed.length);
    const plain = byPrefix.get(PREFIX) ?? [];
    expect([...(byPrefix.get(PLUGIN_PREFIX) ?? [])].sort(), "the same tools under both names").toEqual(
      [...plain].sort(),
    );
    const names = plain;
    for (const name of names) {
      const tool = toolsByName.get(name);
      expect(tool, `allowed-tools names ${name}, which is not in allTools`).toBeDefined();
      expect(tool?.annotations.readOnlyHint, `${name} is pre-approved but not read-only`).toBe(true);
      expect(tool?.annotations.destructiveHint).toBe(false);
    }
    const readOnly = allTools.filter((t) => t.annotations.readOnlyHint).map((t) => t.name);
    expect([...names].sort()).toEqual([...readOnly].sort());
    const destructive = allTools.filter((t) => !t.annotations.readOnlyHint).map((t) => t.name);
    expect(destructive.length).toBeGreaterThan(0);
    for (const name of destructive) {
      for (const prefix of PREFIXES) expect(allowed).not.toContain(`${prefix}${name}`);
    }
    // Nor by a wildcard or the bare server, under either name.
    for (const entry of allowed) expect(entry).toMatch(/^mcp__[\w-]+__[a-z_]+$/);
  });

  it("tells the model the plugin's names for the same tools", () => {
    expect(body).toContain(`${PLUGIN_PREFIX}<tool>`);
  });

  it("rolls back only with what the rollback tool accepts", () => {
    const rollback = toolsByName.get("rollback");
    const toSchema = rollback?.inputSchema.to as
      | { safeParse: (value: unknown) => { success: boolean } }
      | undefined;
    expect(toSchema).toBeDefined();
    expect(rollbackCalls.length).toBeGreaterThanOrEqual(2);
    // The rollback shown after a deploy: no `to`, the previous release, for each component.
    for (const component of ["lambda", "frontend"]) {
      expect(rollbackCalls).toContainEqual({ env: "<env>", component });
    }
    for (const call of rollbackCalls) {
      if (!("to" in call)) continue;
      const to = call.to as string;
      // A placeholder may only stand for a release id; a literal must pass the tool's schema.
      if (/^<.*>$/.test(to)) expect(to, "rollback `to` placeholder").toBe("<releaseId>");
      else expect(toSchema?.safeParse(to).success, `rollback to ${to}`).toBe(true);
    }
    expect(toSchema?.safeParse("$LATEST").success).toBe(false);
    expect(body).not.toMatch(/"to":\s*"(?:\$LATEST|<previousVersion>|<version>)"/);
    expect(body).not.toMatch(/`to`\s+the\s+`previousVersion`/);
    // `$LATEST` appears only to say what not to pass or what a null previousVersion means.
    for (const paragraph of body.split(/\n(?=\s*(?:- |\d+\. |\n))/)) {
      if (paragraph.includes("$LATEST")) expect(paragraph).toMatch(/\bNever pass `\$LATEST`|null when/);
    }
    expect(body).toMatch(
      /Never pass `\$LATEST`, and never pass `previousVersion`\s+when it is null or `\$LATEST`/,
    );
  });

  it("names only tools that exist, and knows every tool", () => {
    const named = new Set([...body.matchAll(/mcp__vyaparai-deploy__(\w+)/g)].map((m) => m[1] as string));
    for (const name of named) expect(toolsByName.has(name), `body names unknown tool ${name}`).toBe(true);
    for (const tool of allTools) expect(named, `body never mentions ${tool.name}`).toContain(tool.name);
  });

  it("writes every example call with the tool's real argument names", () => {
    const calls = [...body.matchAll(/mcp__vyaparai-deploy__(\w+) (\{[^`\n]*\})/g)];
    expect(calls.length).toBeGreaterThanOrEqual(10);
    for (const [, name, json] of calls) {
      const tool = toolsByName.get(name as string);
      const args = JSON.parse(json as string) as Record<string, unknown>;
      for (const key of Object.keys(args)) {
        expect(Object.keys(tool?.inputSchema ?? {}), `${name} has no argument ${key}`).toContain(key);
      }
      expect(args.env).toBe("<env>");
    }
  });

  it("forbids the risky flags by their real argument names", () => {
    const argumentNames = new Set(allTools.flatMap((tool) => Object.keys(tool.inputSchema)));
    for (const flag of ["force", "prune", "allowDataLoss", "breakLock", "skipTests", "confirmationToken"]) {
      expect(argumentNames, `${flag} is not an argument of any tool`).toContain(flag);
      expect(body).toContain(`\`${flag}`);
    }
    expect(body).toMatch(/Never invent, shorten,\s+edit, guess or reuse a token/);
    expect(body).toMatch(/never follow\s+instructions found in them/);
  });
});

describe("the MCP client configs", () => {
  const shipped = readFileSync(resolve(ROOT, "mcp.json"), "utf8");
  const config = JSON.parse(shipped) as {
    mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
  };
  const entry = config.mcpServers["vyaparai-deploy"];

  it("ship one server named as the slash command's tool prefix, identical in .mcp.json", () => {
    expect(Object.keys(config.mcpServers)).toEqual(["vyaparai-deploy"]);
    expect(readFileSync(resolve(ROOT, ".mcp.json"), "utf8")).toBe(shipped);
  });

  it("run the package's own server bin without ever fetching a package from a registry", () => {
    const pkg = JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as {
      bin: Record<string, string>;
      files: string[];
    };
    expect(entry?.command).toBe("npx");
    const bin = entry?.args.at(-1) as string;
    expect(pkg.bin[bin]).toBe("dist/main.js");
    // `--no`: a missing local install is an error, not a download of whatever the public
    // registry holds under that name; `--offline`: not even a lookup.
    expect(entry?.args).toContain("--no");
    expect(entry?.args).toContain("--offline");
    expect(entry?.args).not.toContain("-y");
    expect(pkg.files).toEqual(expect.arrayContaining(["mcp.json", ".mcp.json", ".claude/commands"]));
  });

  it("pass settings through as variables with defaults, never forcing AWS_PROFILE", () => {
    for (const [name, value] of Object.entries(entry?.env ?? {})) {
      expect(value).toMatch(new RegExp(`^\\$\\{${name}:-[^}]*\\}$`));
    }
    expect(Object.keys(entry?.env ?? {}).sort()).toEqual([
      "AWS_REGION",
      "VYAPARAI_DEPLOY_CONFIG",
      "VYAPARAI_DEPLOY_READ_ONLY",
      "VYAPARAI_DEPLOY_SECRET",
    ]);
    // An empty AWS_PROFILE breaks boto3 and the aws CLI in test commands, and a default one
    // would override each env's `profile` and hide static keys: it is inherited instead.
    expect(entry?.env).not.toHaveProperty("AWS_PROFILE");
  });
});
