import type { LambdaDeps, LambdaTuning } from "../../deploy/lambda/deps.js";
import type { ToolContext } from "../../release/context.js";

/** The narrow dependencies of the Lambda domain, taken from one call's context. */
export async function lambdaDepsOf(ctx: ToolContext, tuning: LambdaTuning = {}): Promise<LambdaDeps> {
  const [lambda, s3] = await Promise.all([ctx.aws.lambda(), ctx.aws.s3()]);
  return {
    lambda,
    s3,
    logs: () => ctx.aws.logs(),
    envName: ctx.envName,
    env: ctx.env,
    signal: ctx.signal,
    now: ctx.now,
    progress: ctx.progress,
    ...tuning,
  };
}
