import { randomBytes } from "node:crypto";
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../core/errors.js";

/**
 * The per-user token secret: `$XDG_CONFIG_HOME/vyaparai-deploy/secret` (default
 * `~/.config/...`), 32 random bytes as hex, mode 0600, created on first use. It lets the CLI's
 * confirmation step (a new process) verify the token its first step printed, and lets a CLI
 * and a server of the same user trust each other's preflight records. VYAPARAI_DEPLOY_SECRET,
 * when set, wins over it.
 */
export function userSecretPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "vyaparai-deploy", "secret");
}

const SECRET_HEX = /^[0-9a-f]{64}$/;

export function userSecret(env: NodeJS.ProcessEnv): Buffer {
  const path = userSecretPath(env);
  const existing = readSecret(path);
  if (existing) return existing;
  createSecret(path);
  const created = readSecret(path);
  if (!created)
    throw new ConfigError(`The token secret ${path} could not be created. Check the folder's permissions.`);
  return created;
}

function readSecret(path: string): Buffer | null {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new ConfigError(
      `The token secret ${path} cannot be read (${(error as NodeJS.ErrnoException).code}).`,
    );
  }
  // Safety: a secret others can read (or a file someone else owns) signs tokens anyone could forge.
  if (!stats.isFile() || (stats.mode & 0o077) !== 0 || (process.getuid && stats.uid !== process.getuid())) {
    throw new ConfigError(
      `The token secret ${path} must be a file of yours that only you can read (chmod 600 ${path}), or remove it to have a new one made.`,
    );
  }
  const text = readFileSync(path, "utf8").trim();
  if (!SECRET_HEX.test(text)) {
    throw new ConfigError(
      `The token secret ${path} is not 64 hex characters; remove it to have a new one made.`,
    );
  }
  return Buffer.from(text, "hex");
}

/**
 * Written in full to a private temporary file, then linked into place: two processes starting
 * at once both end up reading the one that won, never half a file.
 */
function createSecret(path: string): void {
  const dir = join(path, "..");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const fd = openSync(temporary, "wx", 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString("hex")}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(temporary);
  }
}
