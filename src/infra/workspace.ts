import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { DeployError } from "../core/errors.js";
import { findTerraformBinary } from "./binary.js";
import type { InfraDeps } from "./deps.js";
import type { TerraformWorkspace } from "./runner.js";

/** The env's terraform directory, its private data dir, and the binary that will run there. */
export async function resolveWorkspace(
  deps: Pick<InfraDeps, "appRoot" | "envName" | "env" | "run">,
): Promise<TerraformWorkspace> {
  const dir = resolve(deps.appRoot, deps.env.terraform.dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DeployError(
      "PRECONDITION",
      `Terraform directory ${dir} does not exist. Set environments.${deps.envName}.terraform.dir in deploy.config.json (relative to ${deps.appRoot}).`,
    );
  }
  const binary = await findTerraformBinary(deps.run, deps.env.terraform.binary, dir);
  return { binary, dir, dataDir: join(dir, ".terraform", "vyaparai-deploy", deps.envName) };
}
