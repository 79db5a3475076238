import { DeployError } from "../core/errors.js";
import type { CommandRunner } from "../core/run-command.js";

export type TerraformFlavour = "terraform" | "tofu";

export interface TerraformBinary {
  /** Command name, resolved through PATH by the runner. */
  command: TerraformFlavour;
  /** e.g. "1.11.4". */
  version: string;
}

const INSTALL_HINT =
  "Install Terraform (https://developer.hashicorp.com/terraform/install) or OpenTofu (https://opentofu.org/docs/intro/install/) and put it on PATH";

/**
 * Finds terraform or tofu. `preferred` (config `terraform.binary`) forces one; otherwise
 * terraform is tried first because the app's configuration is written for it.
 */
export async function findTerraformBinary(
  run: CommandRunner,
  preferred: TerraformFlavour | null,
  cwd: string,
): Promise<TerraformBinary> {
  const candidates: TerraformFlavour[] = preferred ? [preferred] : ["terraform", "tofu"];
  for (const command of candidates) {
    const version = await probeVersion(run, command, cwd);
    if (version) return { command, version };
  }
  const wanted = preferred ? `${preferred} (forced by terraform.binary)` : "terraform or tofu";
  throw new DeployError("PRECONDITION", `Could not run ${wanted}: not found on PATH. ${INSTALL_HINT}.`);
}

async function probeVersion(run: CommandRunner, command: string, cwd: string): Promise<string | null> {
  const result = await run([command, "version", "-json"], { cwd, timeoutMs: 30_000, tailBytes: 2_000 });
  if (result.exitCode !== 0) return null;
  try {
    const parsed = JSON.parse(result.stdout) as { terraform_version?: unknown };
    if (typeof parsed.terraform_version === "string") return parsed.terraform_version;
  } catch {
    // Very old releases have no -json; fall back to the first line of the text output.
  }
  const match = /v(\d+\.\d+\.\d+\S*)/.exec(result.stdout);
  return match?.[1] ?? "unknown";
}
