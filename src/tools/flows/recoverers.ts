import type { LambdaTuning } from "../../deploy/lambda/deps.js";
import type { ToolContext } from "../../release/context.js";
import type { Recoverers } from "../../release/spec.js";
import { lambdaDepsOf } from "./deps.js";

/**
 * How each component settles a release whose process died. The release layer does not know
 * the domains, so the tools layer hands it these; each imports its domain lazily.
 */
export function recoverersFor(ctx: ToolContext, tuning: LambdaTuning = {}): Recoverers {
  return {
    async lambda(record, io) {
      const { recoverLambdaRelease } = await import("../../deploy/lambda/recover.js");
      return recoverLambdaRelease(await lambdaDepsOf(ctx, tuning), record, io);
    },
    async frontend(record, io) {
      const { recoverFrontendRelease } = await import("../../deploy/frontend/recover.js");
      const { frontendDepsOf } = await import("./frontend-deps.js");
      return recoverFrontendRelease(await frontendDepsOf(ctx), record, io);
    },
    async infra(record, io) {
      const { recoverInfraRelease } = await import("../../infra/recover.js");
      return recoverInfraRelease(record, io);
    },
  };
}
