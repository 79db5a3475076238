import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { InfraDeps } from "./deps.js";
import { errorLines } from "./diagnostics.js";
import { runTerraform, type TerraformWorkspace } from "./runner.js";

const FINGERPRINT_FILE = "vyaparai-deploy-init.json";

export type InitOutcome =
  | { ran: false }
  | { ran: true; ok: true; durationMs: number }
  | { ran: true; ok: false; errors: string[]; outputTail: string };

/**
 * Runs `terraform init` only when the workspace needs it: no backend initialised yet in the
 * env's data dir, or something init depends on changed (backend config, dependency lock
 * file, required providers / backend / module blocks, the binary). A no-op init still costs
 * a second or more with real providers; a plan should not pay it every time.
 */
export async function ensureInitialised(
  deps: Pick<InfraDeps, "run" | "signal" | "progress" | "env">,
  workspace: TerraformWorkspace,
): Promise<InitOutcome> {
  const fingerprint = await initFingerprint(workspace, deps.env.terraform.backendConfig);
  const recordPath = join(workspace.dataDir, FINGERPRINT_FILE);
  if (
    existsSync(join(workspace.dataDir, "terraform.tfstate")) &&
    (await readRecorded(recordPath)) === fingerprint
  )
    return { ran: false };

  await mkdir(workspace.dataDir, { recursive: true });
  const backendArgs = Object.entries(deps.env.terraform.backendConfig)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `-backend-config=${key}=${value}`);
  // Safety: -reconfigure, never state migration: a changed backend config means "this env's
  // state lives elsewhere now", and copying one env's state into another would be a disaster.
  const result = await runTerraform(deps, workspace, [
    "init",
    "-input=false",
    "-no-color",
    "-reconfigure",
    ...backendArgs,
  ]);
  if (result.exitCode !== 0)
    return { ran: true, ok: false, errors: errorLines(result.tail), outputTail: result.tail };
  await writeFile(recordPath, `${JSON.stringify({ fingerprint }, null, 2)}\n`);
  return { ran: true, ok: true, durationMs: result.durationMs };
}

async function readRecorded(path: string): Promise<string | null> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as { fingerprint?: unknown };
    return typeof parsed.fingerprint === "string" ? parsed.fingerprint : null;
  } catch {
    return null;
  }
}

/** SHA-256 over everything a re-init would react to. */
export async function initFingerprint(
  workspace: TerraformWorkspace,
  backendConfig: Record<string, string>,
): Promise<string> {
  const hash = createHash("sha256");
  hash.update(`${workspace.binary.command} ${workspace.binary.version}\n`);
  const sortedBackend = Object.entries(backendConfig).sort(([a], [b]) => a.localeCompare(b));
  hash.update(JSON.stringify(sortedBackend));
  const lockFile = join(workspace.dir, ".terraform.lock.hcl");
  hash.update(existsSync(lockFile) ? await readFile(lockFile) : "no-lock-file");
  const files = (await readdir(workspace.dir)).filter((name) => name.endsWith(".tf")).sort();
  for (const name of files) {
    const text = await readFile(join(workspace.dir, name), "utf8");
    hash.update(`\n${name}\n`);
    for (const block of initRelevantBlocks(text)) hash.update(block);
  }
  return hash.digest("hex");
}

/**
 * The `terraform { … }` blocks (backend, required_providers) and `module "…" { … }` blocks
 * (sources) of one file. Brace matching ignores braces inside strings; at worst that makes a
 * fingerprint change and costs one extra init, never a skipped one that was needed.
 */
export function initRelevantBlocks(text: string): string[] {
  const blocks: string[] = [];
  const opener = /^[ \t]*(terraform|module\s+"[^"]*")\s*\{/gm;
  for (let match = opener.exec(text); match; match = opener.exec(text)) {
    let depth = 0;
    let end = text.length;
    for (let i = match.index + match[0].length - 1; i < text.length; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}" && --depth === 0) {
        end = i + 1;
        break;
      }
    }
    blocks.push(text.slice(match.index, end));
    opener.lastIndex = end;
  }
  return blocks;
}
