import { existsSync, statSync } from "node:fs";
import { realpath } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { DeployError, RefusalError } from "../core/errors.js";
import { quote } from "../core/quote.js";
import { findTerraformBinary } from "./binary.js";
import type { InfraDeps } from "./deps.js";
import { planStoreFor } from "./plan-store.js";
import type { TerraformWorkspace } from "./runner.js";

/** The env's terraform directory, its private data dir and plan store, and the binary that will run there. */
export async function resolveWorkspace(
  deps: Pick<InfraDeps, "appRoot" | "envName" | "env" | "run">,
): Promise<TerraformWorkspace> {
  const root = resolve(deps.appRoot);
  const named = resolve(root, deps.env.terraform.dir);
  // Checked before anything runs, and again on the real paths: `../x` and a symlink that
  // leads out are refused alike.
  refuseOutsideAppRoot(deps, root, named);
  if (!existsSync(named) || !statSync(named).isDirectory()) {
    throw new DeployError(
      "PRECONDITION",
      `Terraform directory ${named} does not exist. Set environments.${deps.envName}.terraform.dir in deploy.config.json (relative to ${deps.appRoot}).`,
    );
  }
  const dir = await realpath(named);
  refuseOutsideAppRoot(deps, await realpath(root), dir);
  const binary = await findTerraformBinary(deps.run, deps.env.terraform.binary, dir);
  // terraform runs in the real folder that was checked, not wherever a symlink points later.
  return {
    binary,
    dir,
    dataDir: join(dir, ".terraform", "vyaparai-deploy", deps.envName),
    plans: planStoreFor(dir, deps.envName),
  };
}

/**
 * Safety: terraform plans and applies only configuration that belongs to the app being
 * deployed. A dir outside it (`../other-app`, `/`, a symlink out) would plan and apply
 * configuration nobody reviews with this repo's changes, against this env's state.
 */
function refuseOutsideAppRoot(deps: Pick<InfraDeps, "envName" | "env">, root: string, dir: string): void {
  if (isInside(root, dir)) return;
  throw new RefusalError(
    `environments.${deps.envName}.terraform.dir ("${quote(deps.env.terraform.dir)}") leads outside the app root: terraform runs only on configuration inside the app it deploys. Set it in deploy.config.json to a folder inside the app root (no "..", no symlink out of it). Nothing was run.`,
    { reason: "terraform_dir_outside_app_root" },
  );
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}
