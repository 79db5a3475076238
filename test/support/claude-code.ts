import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

/** The Claude Code release the plugin tests run against. */
export const CLAUDE_CODE_VERSION = "2.1.332";
export const CLAUDE_CODE_PREFIX = join(homedir(), ".cache/vyaparai-deploy/claude-code");
export const CLAUDE_CODE_INSTALL = `npm install --prefix ~/.cache/vyaparai-deploy/claude-code @anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}`;
/** Generous: the first start of the native binary can be slow on a cold CI machine. */
export const CLAUDE_TIMEOUT_MS = 60_000;

function onPath(binary: string): string | null {
  try {
    return execFileSync("sh", ["-c", `command -v ${binary}`], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

/** The claude binary: $CLAUDE_CODE_BIN, else the pinned install in the cache, else `claude` on PATH. */
export function findClaudeCode(): string | null {
  const fromEnv = process.env.CLAUDE_CODE_BIN;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  const cached = join(CLAUDE_CODE_PREFIX, "node_modules/.bin/claude");
  if (existsSync(cached)) return cached;
  return onPath("claude");
}

/**
 * The claude binary for a test. Missing under CI is a loud failure with the install command,
 * never a skip: a green CI run must mean the real Claude Code checked the plugin. Outside CI
 * the test is skipped with the same command.
 */
export function requireClaudeCode(skip: (note: string) => never): string {
  const bin = findClaudeCode();
  if (bin) return bin;
  const where = process.env.CLAUDE_CODE_BIN
    ? `CLAUDE_CODE_BIN=${process.env.CLAUDE_CODE_BIN} does not exist`
    : "not in ~/.cache/vyaparai-deploy/claude-code and not on PATH";
  const message = `Claude Code CLI not found (${where}). Install it with: ${CLAUDE_CODE_INSTALL} (or set CLAUDE_CODE_BIN)`;
  if (process.env.CI) throw new Error(message);
  return skip(message);
}

export interface ClaudeRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A private home for one claude run: its settings, plugin cache and marketplaces go there,
 * never into the developer's own ~/.claude.
 */
export function claudeHome(): string {
  const home = mkdtempSync(join(tmpdir(), "vyaparai-claude-home-"));
  mkdirSync(join(home, ".claude"), { recursive: true });
  return home;
}

/** Runs claude with a private home, no telemetry and no non-essential traffic. */
export function runClaude(bin: string, args: string[], options: { home: string; cwd?: string }): ClaudeRun {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: options.home,
    CLAUDE_CONFIG_DIR: join(options.home, ".claude"),
    XDG_CONFIG_HOME: join(options.home, ".config"),
    XDG_CACHE_HOME: join(options.home, ".cache"),
    XDG_DATA_HOME: join(options.home, ".local/share"),
    XDG_STATE_HOME: join(options.home, ".local/state"),
    DISABLE_TELEMETRY: "1",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_ERROR_REPORTING: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    NO_COLOR: "1",
  };
  const result = spawnSync(bin, args, {
    cwd: options.cwd ?? options.home,
    env,
    encoding: "utf8",
    timeout: CLAUDE_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.error) throw new Error(`claude ${args.join(" ")} did not run: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The run's output for an assertion message. */
export function showRun(args: string[], run: ClaudeRun): string {
  return `claude ${args.join(" ")} exited ${run.status}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}
