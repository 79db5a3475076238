import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The external programs the bench runs: the emulator and the two baseline tools. */
export interface Prerequisites {
  aws: string;
  zip: string;
  motoServer: string;
}

export class MissingPrerequisiteError extends Error {}

function which(binary: string): string | null {
  try {
    const found = execFileSync("sh", ["-c", 'command -v "$1"', "sh", binary], { encoding: "utf8" }).trim();
    return found || null;
  } catch {
    return null;
  }
}

/**
 * A pyenv shim costs a bash + `pyenv exec` start on every call; the baseline must be timed as
 * the real program, not the shim, or it would look slower than it is.
 */
function throughShim(path: string): string {
  if (!path.includes("/.pyenv/shims/")) return path;
  try {
    const name = path.slice(path.lastIndexOf("/") + 1);
    const real = execFileSync("pyenv", ["which", name], { encoding: "utf8" }).trim();
    return real && existsSync(real) ? real : path;
  } catch {
    return path;
  }
}

export function findPrerequisites(projectDir: string): Prerequisites {
  const venvMoto = join(projectDir, ".venv/bin/moto_server");
  const found = {
    aws: which("aws"),
    zip: which("zip"),
    motoServer: existsSync(venvMoto) ? venvMoto : which("moto_server"),
  };
  const missing: string[] = [];
  if (!found.aws)
    missing.push('  - aws CLI (baseline): python3 -m pip install awscli  (or "apt-get install -y awscli")');
  if (!found.zip) missing.push("  - zip (baseline): apt-get install -y zip");
  if (!found.motoServer)
    missing.push(
      '  - moto_server (emulator): python3 -m venv .venv && .venv/bin/pip install "moto[server]==5.2.1"',
    );
  if (missing.length > 0)
    throw new MissingPrerequisiteError(
      `The benchmark needs programs that are not on PATH:\n${missing.join("\n")}\nInstall them and run again.`,
    );
  return {
    aws: throughShim(found.aws as string),
    zip: found.zip as string,
    motoServer: throughShim(found.motoServer as string),
  };
}

/**
 * An aws CLI v2 for `aws logs tail` (v1 has no tail): the CLI on PATH when it is v2, else a
 * v2 in the usual system places (Debian's awscli package is v2). null when there is none.
 */
export function findAwsV2(primary: string): string | null {
  for (const candidate of [...new Set([primary, "/usr/local/bin/aws", "/usr/bin/aws"])]) {
    if (!existsSync(candidate)) continue;
    try {
      const version = execFileSync(candidate, ["--version"], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", AWS_CONFIG_FILE: "/dev/null" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      if (/^aws-cli\/2\./.test(version.trim())) return candidate;
    } catch {
      // not a working CLI
    }
  }
  return null;
}
