import type { IntegrityReport } from "../../deploy/frontend/integrity.js";
import type { InvalidationResult } from "../../deploy/frontend/invalidation.js";
import type { FrontendPlan } from "../../deploy/frontend/plan.js";
import type { FrontendReleaseState } from "../../deploy/frontend/release.js";
import type { LambdaTuning } from "../../deploy/lambda/deps.js";
import type { LambdaRollbackPlan } from "../../deploy/lambda/rollback.js";
import type { HealthReport } from "../../observe/health.js";
import type { ToolContext } from "../../release/context.js";
import { runRelease } from "../../release/run-release.js";
import type { ReleaseRun } from "../../release/spec.js";
import { lambdaDepsOf } from "./deps.js";
import { frontendDepsOf } from "./frontend-deps.js";
import { recoverersFor } from "./recoverers.js";
import { type ReleaseFacts, releaseFactsOf, releaseTail } from "./release-facts.js";

export interface RollbackRequest {
  component: "lambda" | "frontend";
  to?: string | undefined;
  dryRun: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

/** What a rollback of either component returns (the rollback tool's output). */
export interface RollbackOutput extends Partial<ReleaseFacts> {
  summary: string;
  status: "planned" | "confirmation_required" | "rolled_back" | "unchanged" | "failed";
  /** What was live: release id, or "version N". */
  from: string | null;
  /** What is (or would be) live after. */
  to: string | null;
  releaseId?: string;
  confirmationToken?: string;
  expiresAt?: string;
  health?: HealthReport | { integrity: IntegrityReport | null; invalidation: InvalidationResult | null };
  plan?: LambdaRollbackPlan | FrontendPlan;
  live?: Record<string, unknown> | null;
  failure?: string;
}

interface Prepared {
  from: string | null;
  to: string;
  plan: LambdaRollbackPlan | FrontendPlan | null;
  planText: string;
  // biome-ignore lint/suspicious/noExplicitAny: either component's spec runs through the same flow.
  spec: any;
  where: string;
  /** Whether what was read back is the target. */
  isTargetLive: (live: unknown) => boolean;
  healthOf: (state: unknown) => RollbackOutput["health"];
}

/** rollback: the component's plan (domain), the one release flow, then the answer from what was read back. */
export async function rollback(
  ctx: ToolContext,
  request: RollbackRequest,
  tuning: LambdaTuning = {},
): Promise<RollbackOutput> {
  const prepared =
    request.component === "lambda"
      ? await prepareLambda(ctx, request, tuning)
      : await prepareFrontend(ctx, request);
  const { from, to, where } = prepared;
  const plan = prepared.plan ?? undefined;
  if (!prepared.spec) {
    return {
      summary: `Nothing to roll back: ${where} already serves ${to}.`,
      status: "unchanged",
      from,
      to,
      ...(plan ? { plan } : {}),
    };
  }
  if (request.dryRun) {
    return {
      summary: `Dry run: ${prepared.planText} Nothing was changed.`,
      status: "planned",
      from,
      to,
      ...(plan ? { plan } : {}),
    };
  }
  const result = await runRelease(ctx, prepared.spec, recoverersFor(ctx, tuning));
  if (result.kind === "confirmation_required") {
    return {
      summary: `Confirmation required for ${ctx.envName}: ${prepared.planText} Show this to the user; if they agree, call rollback again with the same arguments and the confirmationToken (valid until ${result.expiresAt}).`,
      status: "confirmation_required",
      from,
      to,
      ...(plan ? { plan } : {}),
      confirmationToken: result.confirmationToken,
      expiresAt: result.expiresAt,
    };
  }
  const run = result as ReleaseRun<unknown, unknown>;
  const health = prepared.healthOf(run.state);
  const common: RollbackOutput = {
    summary: "",
    status: "failed",
    from,
    to,
    releaseId: run.releaseId,
    ...(plan ? { plan } : {}),
    live: (run.live as Record<string, unknown> | null) ?? null,
    ...(health ? { health } : {}),
    ...(run.failure ? { failure: `${run.failure.step}: ${run.failure.message}` } : {}),
    ...releaseFactsOf(run),
  };
  const tail = releaseTail(run);
  if (run.status === "succeeded" && prepared.isTargetLive(run.live)) {
    const verdict = health && "verdict" in health ? health.verdict : null;
    const check =
      verdict && verdict !== "healthy"
        ? ` Health is ${verdict}: look at tail_logs before doing anything else.`
        : "";
    return {
      ...common,
      status: "rolled_back",
      summary: `Rolled ${where} back from ${from ?? "an unknown release"} to ${to} (release ${run.releaseId}); the read-back shows it live.${check}${tail}`,
    };
  }
  const undone = run.status === "rolled_back" ? " What served before the rollback was put back." : "";
  return {
    ...common,
    status: "failed",
    summary: `The rollback of ${where} to ${to} failed at step ${run.failure?.step ?? "read-back"}.${undone}${tail}`,
  };
}

async function prepareLambda(
  ctx: ToolContext,
  request: RollbackRequest,
  tuning: LambdaTuning,
): Promise<Prepared> {
  const { prepareLambdaRollback } = await import("../../deploy/lambda/rollback.js");
  const deps = await lambdaDepsOf(ctx, tuning);
  const prepared = await prepareLambdaRollback(deps, request);
  const { functionName, alias } = ctx.env.lambda;
  const target = prepared.plan;
  return {
    ...prepared,
    where: `${functionName}${alias ? `:${alias}` : ""}`,
    isTargetLive: (live) =>
      target !== null && (live as { codeSha256?: string } | null)?.codeSha256 === target.toCodeSha256,
    healthOf: (state) => (state as { health: HealthReport | null }).health ?? undefined,
  };
}

async function prepareFrontend(ctx: ToolContext, request: RollbackRequest): Promise<Prepared> {
  const { prepareFrontendRollback } = await import("../../deploy/frontend/rollback.js");
  const prepared = await prepareFrontendRollback(await frontendDepsOf(ctx), request);
  return {
    ...prepared,
    planText: `Roll the frontend of ${ctx.envName} back from ${prepared.from ?? "an unknown release"} to ${prepared.to}: ${prepared.planText}.`,
    where: `the frontend of ${ctx.envName} (${ctx.env.frontend.buckets.join(", ")})`,
    isTargetLive: (live) => (live as { entryPoints?: string } | null)?.entryPoints === "next",
    healthOf: (state) => {
      const s = state as FrontendReleaseState;
      return { integrity: s.integrity, invalidation: s.invalidation };
    },
  };
}
