import type { FrontendDeps } from "../../deploy/frontend/deps.js";
import type { ToolContext } from "../../release/context.js";

/** The narrow dependencies of the frontend domain, taken from one call's context. */
export async function frontendDepsOf(ctx: ToolContext): Promise<FrontendDeps> {
  return {
    s3: await ctx.aws.s3(),
    cloudFront: () => ctx.aws.cloudFront(),
    envName: ctx.envName,
    env: ctx.env,
    frontend: ctx.config.frontend,
    appRoot: ctx.appRoot,
    run: ctx.run,
    signal: ctx.signal,
    now: ctx.now,
    progress: ctx.progress,
  };
}
