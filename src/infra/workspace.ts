import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { DeployError } from "../core/errors.js";
import type { ToolContext } from "../release/context.js";
import { findTerraformBinary } from "./binary.js";
import type { TerraformWorkspace } from "./runner.js";

/** The env's terraform directory, its private data dir, and the binary that will run there. */
export async function resolveWorkspace(
  ctx: Pick<ToolContext, "appRoot" | "envName" | "env" | "run">,
): Promise<TerraformWorkspace> {
  const dir = resolve(ctx.appRoot, ctx.env.terraform.dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new DeployError(
      "PRECONDITION",
      `Terraform directory ${dir} does not exist. Set environments.${ctx.envName}.terraform.dir in deploy.config.json (relative to ${ctx.appRoot}).`,
    );
  }
  const binary = await findTerraformBinary(ctx.run, ctx.env.terraform.binary, dir);
  return { binary, dir, dataDir: join(dir, ".terraform", "vyaparai-deploy", ctx.envName) };
}
