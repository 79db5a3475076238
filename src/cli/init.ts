import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { packageRoot } from "../core/package-root.js";

/**
 * `vyaparai-deploy init [dir]`: installs the /deploy slash command, the MCP server entry and a
 * starter config into an app repository. Templates are this package's own shipped files, so
 * what lands in the app is exactly what was released.
 */

export const SERVER_NAME = "vyaparai-deploy";
export const SLASH_COMMAND_PATH = ".claude/commands/deploy.md";
export const MCP_CONFIG_PATH = ".mcp.json";
export const CONFIG_PATH = "deploy.config.json";
export const GITIGNORE_PATH = ".gitignore";
/** Claude Code's per-person files: left untracked they would make the tree dirty and block deploys. */
export const IGNORED_LOCAL_FILES = [".claude/settings.local.json", "CLAUDE.local.md"];
export const SCHEMA_REF = "./node_modules/vyaparai-deploy/schema/deploy.config.schema.json";

/** What init did to one file. */
export type InitAction = "created" | "updated" | "unchanged" | "kept" | "replaced" | "failed";

export interface InitFileResult {
  path: string;
  action: InitAction;
  detail: string;
}

export interface InitOptions {
  /** The app repository root. */
  dir: string;
  /** Replace shipped files the user changed (never the user's deploy.config.json). */
  force: boolean;
  /** Where the templates come from; the installed package's root by default. */
  packageRoot?: string;
}

export function starterConfigText(): string {
  // The built-in defaults already describe VyapaarAI; the file holds only what differs.
  return `${JSON.stringify({ $schema: SCHEMA_REF, environments: {} }, null, 2)}\n`;
}

export function initAppRepo(options: InitOptions): InitFileResult[] {
  const root = options.packageRoot ?? packageRoot();
  const dir = resolve(options.dir);
  return [
    installSlashCommand(dir, root, options.force),
    installMcpEntry(dir, root, options.force),
    installStarterConfig(dir),
    installIgnoreEntries(dir),
  ];
}

function readTemplate(root: string, relativePath: string): string {
  const path = join(root, relativePath);
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(
      `The package file ${path} is missing or unreadable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); reinstall vyaparai-deploy.`,
    );
  }
}

/** Write via a temporary file so an interrupted run never leaves half a file behind. */
function writeAtomically(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

function installSlashCommand(dir: string, root: string, force: boolean): InitFileResult {
  const shipped = readTemplate(root, SLASH_COMMAND_PATH);
  const target = join(dir, SLASH_COMMAND_PATH);
  const result = (action: InitAction, detail: string) => ({ path: SLASH_COMMAND_PATH, action, detail });
  if (!existsSync(target)) {
    writeAtomically(target, shipped);
    return result("created", "the /deploy slash command");
  }
  if (readFileSync(target, "utf8") === shipped) return result("unchanged", "same as the shipped version");
  if (!force) {
    return result(
      "kept",
      "differs from the shipped version (edited, or from another release); rerun with --force to replace it",
    );
  }
  writeAtomically(target, shipped);
  return result("replaced", "with the shipped version (--force)");
}

function installMcpEntry(dir: string, root: string, force: boolean): InitFileResult {
  const shippedText = readTemplate(root, "mcp.json");
  const shippedEntry = (JSON.parse(shippedText) as { mcpServers: Record<string, unknown> }).mcpServers[
    SERVER_NAME
  ];
  const target = join(dir, MCP_CONFIG_PATH);
  const result = (action: InitAction, detail: string) => ({ path: MCP_CONFIG_PATH, action, detail });
  if (!existsSync(target)) {
    writeAtomically(target, shippedText);
    return result("created", `with the "${SERVER_NAME}" server`);
  }
  let existing: unknown;
  try {
    existing = JSON.parse(readFileSync(target, "utf8"));
  } catch (error) {
    // Safety: even --force must not replace a file that may hold the user's other servers.
    return result("failed", `is not valid JSON (${(error as Error).message}); fix or remove it, then rerun`);
  }
  if (
    !isPlainObject(existing) ||
    (existing.mcpServers !== undefined && !isPlainObject(existing.mcpServers))
  ) {
    return result("failed", 'must be a JSON object whose "mcpServers" is an object; fix it, then rerun');
  }
  const servers = (existing.mcpServers ?? {}) as Record<string, unknown>;
  const current = servers[SERVER_NAME];
  if (current !== undefined && isDeepStrictEqual(current, shippedEntry)) {
    return result("unchanged", `the "${SERVER_NAME}" server is the shipped one`);
  }
  if (current !== undefined && !force) {
    return result(
      "kept",
      `the "${SERVER_NAME}" server differs from the shipped one; rerun with --force to replace that entry`,
    );
  }
  const others = Object.keys(servers).filter((name) => name !== SERVER_NAME).length;
  writeAtomically(
    target,
    `${JSON.stringify({ ...existing, mcpServers: { ...servers, [SERVER_NAME]: shippedEntry } }, null, 2)}\n`,
  );
  const kept = `${others} other server${others === 1 ? "" : "s"} kept`;
  return current === undefined
    ? result("updated", `added the "${SERVER_NAME}" server; ${kept}`)
    : result("replaced", `the "${SERVER_NAME}" server with the shipped one (--force); ${kept}`);
}

function installStarterConfig(dir: string): InitFileResult {
  const target = join(dir, CONFIG_PATH);
  const starter = starterConfigText();
  if (!existsSync(target)) {
    writeAtomically(target, starter);
    return {
      path: CONFIG_PATH,
      action: "created",
      detail: "starter config (built-in VyapaarAI defaults apply)",
    };
  }
  if (readFileSync(target, "utf8") === starter) {
    return { path: CONFIG_PATH, action: "unchanged", detail: "the starter config" };
  }
  // Safety: the config is the user's; not even --force touches it.
  return { path: CONFIG_PATH, action: "kept", detail: "your config; init never changes it" };
}

function installIgnoreEntries(dir: string): InitFileResult {
  const target = join(dir, GITIGNORE_PATH);
  const current = existsSync(target) ? readFileSync(target, "utf8") : null;
  const lines = new Set((current ?? "").split(/\r?\n/).map((line) => line.trim()));
  const missing = IGNORED_LOCAL_FILES.filter((entry) => !lines.has(entry) && !lines.has(`/${entry}`));
  if (missing.length === 0) {
    return { path: GITIGNORE_PATH, action: "unchanged", detail: "already ignores Claude Code's local files" };
  }
  const separator = current && !current.endsWith("\n") ? "\n" : "";
  const block = `${separator}${current ? "\n" : ""}# Claude Code's per-person files (vyaparai-deploy init)\n${missing.join("\n")}\n`;
  writeAtomically(target, `${current ?? ""}${block}`);
  return {
    path: GITIGNORE_PATH,
    action: current === null ? "created" : "updated",
    detail: `ignores ${missing.join(", ")} so they never make the tree dirty`,
  };
}

/** npx finds the bin in node_modules/.bin of the folder or any parent, like this walk. */
function serverInstalledFor(dir: string): boolean {
  for (let current = dir; ; current = dirname(current)) {
    if (existsSync(join(current, "node_modules", ".bin", "vyaparai-deploy-mcp"))) return true;
    if (dirname(current) === current) return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export const INIT_USAGE = `Usage: vyaparai-deploy init [dir] [--force] [--json]

Installs into the app repository at dir (default: the current directory):
  ${SLASH_COMMAND_PATH}  the /deploy slash command for Claude Code
  ${MCP_CONFIG_PATH}                   the "${SERVER_NAME}" MCP server (merged; other servers are kept)
  ${CONFIG_PATH}           a starter config, only when none exists
  ${GITIGNORE_PATH}                   entries for Claude Code's local files (${IGNORED_LOCAL_FILES.join(", ")})

Running it again changes nothing. A shipped file you edited is kept unless --force;
deploy.config.json is never overwritten.`;

interface InitArgs {
  dir: string;
  force: boolean;
  json: boolean;
  help: boolean;
}

function parseInitArgs(argv: string[]): InitArgs {
  const args: InitArgs = { dir: ".", force: false, json: false, help: false };
  const positional: string[] = [];
  for (const arg of argv) {
    if (arg === "--force") args.force = true;
    else if (arg === "--json") args.json = true;
    else if (arg === "--help" || arg === "-h") args.help = true;
    else if (arg.startsWith("-"))
      throw new Error(`Unknown flag ${arg} for init. Known flags: --force, --json.`);
    else positional.push(arg);
  }
  if (positional.length > 1) {
    throw new Error(`init takes one directory, got ${positional.length}: ${positional.join(" ")}.`);
  }
  args.dir = positional[0] ?? ".";
  return args;
}

export interface InitIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  cwd: string;
}

const defaultIo: InitIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  cwd: process.cwd(),
};

/** The `init` subcommand. Exit codes: 0 done, 1 a file could not be installed, 2 usage error. */
export function runInit(argv: string[], io: InitIo = defaultIo): number {
  let args: InitArgs;
  try {
    args = parseInitArgs(argv);
  } catch (error) {
    io.stderr(`${(error as Error).message}\n${INIT_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout(`${INIT_USAGE}\n`);
    return 0;
  }
  const dir = resolve(io.cwd, args.dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    io.stderr(`${dir} is not a directory. Pass the app repository's root folder.\n`);
    return 1;
  }
  let results: InitFileResult[];
  try {
    results = initAppRepo({ dir, force: args.force });
  } catch (error) {
    io.stderr(`${(error as Error).message}\n`);
    return 1;
  }
  const failed = results.some((r) => r.action === "failed");
  if (args.json) {
    io.stdout(`${JSON.stringify({ dir, ok: !failed, files: results }, null, 2)}\n`);
  } else {
    for (const r of results) io.stdout(`${r.action.padEnd(9)} ${r.path}: ${r.detail}\n`);
    if (!failed && !serverInstalledFor(dir)) {
      io.stdout(
        "\nThe server is not installed in this repository yet: .mcp.json runs node_modules/.bin/vyaparai-deploy-mcp through npx, so add vyaparai-deploy to its devDependencies (npm install --save-dev <tarball or git URL>).\n",
      );
    }
    if (!failed) {
      io.stdout(
        `\nNext: open Claude Code in ${dir}, approve the "${SERVER_NAME}" server when asked (or check /mcp), then type /deploy.\n`,
      );
    }
  }
  return failed ? 1 : 0;
}
