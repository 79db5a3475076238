import {
  type DeployFrontendRequest,
  type EarlyFrontendReads,
  prepareFrontendDeploy,
  readFrontendEarly,
} from "../../deploy/frontend/deploy.js";
import type { FrontendPlan } from "../../deploy/frontend/plan.js";
import type { FrontendReleaseState, LiveFrontend } from "../../deploy/frontend/release.js";
import { formatBytes } from "../../deploy/frontend/sync.js";
import type { ToolContext } from "../../release/context.js";
import { type EarlyLock, takeLockEarly } from "../../release/early-lock.js";
import { readGitStateEarly } from "../../release/gates.js";
import { readInterruptedFor } from "../../release/interrupted.js";
import { runRelease } from "../../release/run-release.js";
import type { ReleaseRun } from "../../release/spec.js";
import { frontendDepsOf } from "./frontend-deps.js";
import { recoverersFor } from "./recoverers.js";
import { pendingOf, type ReleaseFacts, releaseFactsOf, releaseTail } from "./release-facts.js";

export type DeployFrontendStatus =
  | "planned"
  | "confirmation_required"
  | "unchanged"
  | "deployed"
  | "rolled_back"
  | "failed";

export interface DeployFrontendOutput extends Partial<ReleaseFacts> {
  summary: string;
  status: DeployFrontendStatus;
  plan: FrontendPlan;
  confirmationToken?: string;
  expiresAt?: string;
  blockedBy?: string;
  releaseId?: string;
  uploaded?: { files: number; bytes: number; deleted: number };
  live?: LiveFrontend | null;
  invalidation?: NonNullable<FrontendReleaseState["invalidation"]>;
  integrity?: NonNullable<FrontendReleaseState["integrity"]>;
  failure?: string;
  interrupted?: Array<{ releaseId: string; component: string; phase: string | null }>;
}

/** deploy_frontend: build, hash and plan (domain), the one release flow, then the answer from what was read back. */
export async function deployFrontend(
  ctx: ToolContext,
  request: DeployFrontendRequest & { dryRun: boolean },
): Promise<DeployFrontendOutput> {
  // Who is calling is asked once the release starts; asked now, the answer is in by then.
  if (!request.dryRun) {
    ctx.identity().catch(() => {});
    readGitStateEarly(ctx);
  }
  // Without a build the call plans in well under a lock's TTL: where nothing gates the lock
  // (early-lock.ts), it is taken now and the plan is made under it.
  const lockedEarly =
    request.skipBuild && !request.dryRun && !request.breakLock ? takeLockEarly(ctx, "frontend") : null;
  try {
    return await deployUnder(ctx, request, lockedEarly);
  } finally {
    // Adopted by the release, this does nothing; otherwise the call ends here and frees the env.
    await (await lockedEarly)?.dispose();
  }
}

async function deployUnder(
  ctx: ToolContext,
  request: DeployFrontendRequest & { dryRun: boolean },
  lockedEarly: Promise<EarlyLock | null> | null,
): Promise<DeployFrontendOutput> {
  const deps = await frontendDepsOf(ctx);
  const early = request.skipBuild ? earlyReadsOf(await ctx.prefetched) : null;
  const readInterrupted = async () => {
    const locked = await lockedEarly;
    // Under the call's own lock, every in_progress record but its own is interrupted.
    if (locked) return locked.interrupted;
    return readInterruptedFor(deps.s3, ctx.env.lambda.artifactBucket, ctx.envName, ctx.now);
  };
  // Independent reads: without a build, interrupted releases are looked for while the files are
  // hashed and compared. After a build (minutes, maybe) they are read once it is done, so the
  // answer does not miss one that appeared meanwhile.
  const [prepared, interrupted] = request.skipBuild
    ? await Promise.all([prepareFrontendDeploy(deps, request, early), readInterrupted()])
    : [await prepareFrontendDeploy(deps, request), await readInterrupted()];
  const { plan, planText } = prepared;
  const where = `${ctx.envName} (${plan.buckets.join(", ")})`;
  const pending = pendingOf(interrupted);
  const base = { plan, ...(pending.length ? { interrupted: pending } : {}) };
  if (prepared.unchanged && pending.length === 0) {
    return {
      summary: `The frontend in ${where} already matches the build (${plan.files} files); nothing to upload${plan.keptStale ? `, ${plan.keptStale} stale file(s) kept for the grace period` : ""}.`,
      status: "unchanged",
      ...base,
    };
  }
  const settle = pending.length
    ? ` First, ${pending.length} interrupted release(s) of ${ctx.envName} are settled (see interrupted).`
    : "";
  if (request.dryRun) {
    return {
      summary: `Dry run for ${where}: would ${planText}.${settle} Nothing was changed.`,
      status: "planned",
      ...base,
    };
  }
  const result = await runRelease(ctx, prepared.spec, recoverersFor(ctx), { early: await lockedEarly });
  if (result.kind === "confirmation_required") {
    return {
      summary: `Deploying the frontend to protected env ${where} needs confirmation: it would ${planText}.${settle} Show this plan to the user; if they agree, call deploy_frontend again with the same arguments and this confirmationToken (valid until ${result.expiresAt}).${result.blockedBy ? " The confirmed call would be refused now: see blockedBy." : ""}`,
      status: "confirmation_required",
      ...base,
      confirmationToken: result.confirmationToken,
      expiresAt: result.expiresAt,
      ...(result.blockedBy ? { blockedBy: result.blockedBy } : {}),
    };
  }
  return finishedOutput(where, base, result, prepared.unchanged);
}

/** The tool's prefetch: the reads a plan needs, started before protection is known. */
export async function prefetchFrontend(ctx: ToolContext): Promise<EarlyFrontendReads | null> {
  return readFrontendEarly(await frontendDepsOf(ctx));
}

function earlyReadsOf(value: unknown): EarlyFrontendReads | null {
  return value !== null && typeof value === "object" && "listings" in value && "history" in value
    ? (value as EarlyFrontendReads)
    : null;
}

function finishedOutput(
  where: string,
  base: Pick<DeployFrontendOutput, "plan" | "interrupted">,
  run: ReleaseRun<FrontendReleaseState, LiveFrontend>,
  unchanged: boolean,
): DeployFrontendOutput {
  const s = run.state;
  const common: DeployFrontendOutput = {
    summary: "",
    status: "failed",
    ...base,
    releaseId: run.releaseId,
    uploaded: { files: s.uploadedFiles, bytes: s.uploadedBytes, deleted: s.deleted },
    live: run.live,
    ...(s.invalidation ? { invalidation: s.invalidation } : {}),
    ...(s.integrity ? { integrity: s.integrity } : {}),
    ...(run.failure ? { failure: `${run.failure.step}: ${run.failure.message}` } : {}),
    ...releaseFactsOf(run),
  };
  const tail = releaseTail(run);
  const liveWord = liveText(run.live);
  if (run.status === "succeeded") {
    if (unchanged) {
      return {
        ...common,
        status: "unchanged",
        summary: `The frontend in ${where} already matched the build; ${liveWord}.${tail}`,
      };
    }
    if (run.live?.entryPoints !== "next") {
      // Safety: never claim a release the read-back does not show.
      return {
        ...common,
        status: "failed",
        summary: `Frontend release ${run.releaseId} finished its steps, but ${liveWord}. Check deploy_status before deploying again.${tail}`,
      };
    }
    const parts = [
      `Deployed frontend release ${run.releaseId} to ${where}: uploaded ${s.uploadedFiles} file(s) (${formatBytes(s.uploadedBytes)})`,
    ];
    if (s.deleted) parts.push(`deleted ${s.deleted} stale file(s)`);
    if (s.invalidation)
      parts.push(
        `invalidation ${s.invalidation.id} (${s.invalidation.paths.length} path(s), ${s.invalidation.status})`,
      );
    if (s.integrity) parts.push(`all ${s.integrity.checked} referenced assets present`);
    return { ...common, status: "deployed", summary: `${parts.join("; ")}. ${liveWord}.${tail}` };
  }
  const step = run.failure?.step ?? "unknown";
  if (run.status === "rolled_back") {
    return {
      ...common,
      status: "rolled_back",
      summary: `Frontend release ${run.releaseId} to ${where} failed at step ${step} after its entry points went live; they were put back: ${liveWord}.${tail}`,
    };
  }
  return {
    ...common,
    status: "failed",
    summary: `Frontend release ${run.releaseId} to ${where} failed at step ${step}: ${liveWord}.${tail}`,
  };
}

function liveText(live: LiveFrontend | null): string {
  if (!live) return "what is live could not be read back";
  if (live.entryPoints === "previous") return "the previous release is live (every entry point read back)";
  if (live.entryPoints === "next") return "the new release is live (every entry point read back)";
  if (live.entryPoints === "mixed") return "entry points from BOTH releases are live (see undo.fixCommand)";
  return "some entry points hold content from neither release";
}
