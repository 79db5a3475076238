import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { FrontendConfig } from "../../config/schema.js";
import { DeployError } from "../../core/errors.js";
import type { ToolContext } from "../../release/context.js";
import { runGuardedMutation } from "../../release/run-release.js";
import type { MutationOutcome } from "../../release/types.js";
import { type ApplyResult, applyFrontendRelease, applyOutcome } from "./apply.js";
import { buildFrontend } from "./build.js";
import type { FrontendManifest } from "./diff.js";
import { type LocalFile, walkDist } from "./files.js";
import { headersFor } from "./headers.js";
import { knownSha256From, loadLiveHistory } from "./history.js";
import type { IntegrityReport } from "./integrity.js";
import type { InvalidationResult } from "./invalidation.js";
import {
  assertSeparateArtifactBucket,
  deletionsOf,
  type FrontendPlan,
  liveIndexSha256,
  manifestDigest,
  planBuckets,
} from "./plan.js";
import { formatBytes } from "./sync.js";

export interface DeployFrontendRequest {
  dryRun: boolean;
  skipBuild: boolean;
  prune: boolean;
  wait: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

export type DeployFrontendStatus = "planned" | "confirmation_required" | "unchanged" | "deployed" | "failed";

export interface DeployFrontendOutput {
  summary: string;
  status: DeployFrontendStatus;
  plan: FrontendPlan;
  confirmationToken?: string;
  expiresAt?: string;
  invalidation?: InvalidationResult;
  releaseId?: string;
  integrity?: IntegrityReport;
  warnings?: string[];
  error?: string;
}

export function manifestOf(files: LocalFile[], frontend: FrontendConfig): FrontendManifest {
  const manifest: FrontendManifest = {};
  for (const file of files) {
    manifest[file.key] = {
      sha256: file.sha256,
      md5: file.md5,
      size: file.size,
      ...headersFor(file.key, frontend),
    };
  }
  return manifest;
}

/**
 * deploy_frontend: build → hash dist/ → diff every bucket → (dry run: stop) → guard (token,
 * approval, tests first, lock, release record) → assets, check, entry points, stale files,
 * invalidation, read-back check. The release record keeps the manifest for rollback.
 */
export async function deployFrontend(
  ctx: ToolContext,
  request: DeployFrontendRequest,
): Promise<DeployFrontendOutput> {
  assertSeparateArtifactBucket(ctx.env);
  const frontend = ctx.config.frontend;
  const build = request.skipBuild ? null : await buildFrontend(ctx);
  const distDir = join(ctx.appRoot, frontend.dir, frontend.distDir);
  ctx.progress("Hashing the build output");
  const files = await walkDist(distDir, { signal: ctx.signal });
  const index = files.find((file) => file.key === "index.html");
  if (!index) {
    throw new DeployError(
      "PRECONDITION",
      `${distDir} has no index.html; nothing was uploaded. Check that the build succeeded and frontend.distDir is right.`,
    );
  }
  const desired = manifestOf(files, frontend);
  const s3 = await ctx.aws.s3();
  const { live: history } = await loadLiveHistory(s3, ctx.env.lambda.artifactBucket, ctx.envName);
  ctx.progress(`Comparing ${files.length} files with ${ctx.env.frontend.buckets.join(", ")}`);
  const planned = await planBuckets(s3, ctx.env, desired, {
    history,
    now: ctx.now(),
    graceHours: frontend.staleGraceHours,
    prune: request.prune,
    signal: ctx.signal,
    extraDigest: { env: ctx.envName, prune: request.prune, distributionId: ctx.env.frontend.distributionId },
  });
  const { plan } = planned;
  const where = `${ctx.envName} (${plan.buckets.join(", ")})`;
  const planText = describePlan(plan);

  if (plan.upload === 0 && plan.delete === 0) {
    return {
      summary: `The frontend in ${where} already matches the build (${plan.files} files); nothing to upload${plan.keptStale ? `, ${plan.keptStale} stale file(s) kept for the grace period` : ""}.`,
      status: "unchanged",
      plan,
    };
  }
  if (request.dryRun) {
    return {
      summary: `Dry run for ${where}: would ${planText}. Nothing was changed.`,
      status: "planned",
      plan,
    };
  }

  const before = await liveIndexSha256(s3, ctx.env);
  const indexSha256 = index.sha256;
  const guarded = await runGuardedMutation(
    {
      ctx,
      component: "frontend",
      plan: planned.digestable,
      planSummary: `Deploy the frontend to ${where}: ${planText}.`,
      confirmationToken: request.confirmationToken,
      breakLock: request.breakLock,
      requirePreflight: true,
    },
    async (release): Promise<MutationOutcome<ApplyResult>> => {
      const applied = await applyFrontendRelease(
        ctx,
        release,
        {
          s3,
          desired,
          diffs: planned.diffs,
          deletions: deletionsOf(planned.stale),
          knownSha256: knownSha256From(history),
          sourceOf: (key) => ({ kind: "file", path: join(distDir, key) }),
          newIndexHtml: () => readFile(index.path, "utf8"),
          wait: request.wait,
        },
        // What is live is recorded the moment it is live, before cleanup or invalidation.
        () => release.update({ manifest: desired, after: { indexHtmlSha256: indexSha256, switched: true } }),
      );
      return applyOutcome(
        applied,
        { beforeIndexSha256: before, newIndexSha256: indexSha256, manifest: desired },
        {
          artifacts: {
            manifestSha256: manifestDigest(desired),
            files: plan.files,
            buckets: plan.buckets,
            uploaded: applied.uploadedFiles,
            uploadedBytes: applied.uploadedBytes,
            deleted: applied.deleted,
            invalidationId: applied.invalidation?.id ?? null,
            buildMs: build?.durationMs ?? null,
          },
          before: { indexHtmlSha256: before },
        },
      );
    },
  );

  if (guarded.kind === "confirmation_required") {
    return {
      summary: `Deploying the frontend to protected env ${where} needs confirmation: it would ${planText}. Show this plan to the user; if they agree, call deploy_frontend again with the same arguments and this confirmationToken (valid until ${guarded.expiresAt}).`,
      status: "confirmation_required",
      plan,
      confirmationToken: guarded.confirmationToken,
      expiresAt: guarded.expiresAt,
    };
  }
  const applied = guarded.result;
  const warnings = [...applied.warnings, ...(guarded.warnings ?? [])];
  return {
    summary: deploySummary(where, guarded.releaseId, applied, guarded.status === "succeeded"),
    status: guarded.status === "succeeded" ? "deployed" : "failed",
    plan,
    releaseId: guarded.releaseId,
    ...(applied.invalidation ? { invalidation: applied.invalidation } : {}),
    ...(applied.integrity ? { integrity: applied.integrity } : {}),
    ...(warnings.length ? { warnings } : {}),
    ...(applied.error ? { error: applied.error } : {}),
  };
}

export function describePlan(plan: FrontendPlan): string {
  const parts = [`upload ${plan.upload} of ${plan.files} file(s) (${formatBytes(plan.bytes)})`];
  parts.push(`keep ${plan.unchanged} unchanged`);
  parts.push(plan.delete ? `delete ${plan.delete} stale file(s)` : "delete nothing");
  if (plan.keptStale) parts.push(`keep ${plan.keptStale} stale file(s) for the grace period`);
  return parts.join(", ");
}

function deploySummary(where: string, releaseId: string, applied: ApplyResult, ok: boolean): string {
  if (applied.error) return `Frontend release ${releaseId} to ${where} failed: ${applied.error}`;
  const parts = [
    `${ok ? "Deployed" : "Published, but the check failed for"} frontend release ${releaseId} to ${where}: uploaded ${applied.uploadedFiles} file(s) (${formatBytes(applied.uploadedBytes)})`,
  ];
  if (applied.deleted) parts.push(`deleted ${applied.deleted} stale file(s)`);
  if (applied.invalidation)
    parts.push(
      `invalidation ${applied.invalidation.id} (${applied.invalidation.paths.length} path(s), ${applied.invalidation.status})`,
    );
  if (applied.integrity && !applied.integrity.ok)
    parts.push(
      `index.html references ${applied.integrity.missing.length} missing file(s) — roll back with rollback {component: "frontend"}`,
    );
  else if (applied.integrity) parts.push(`all ${applied.integrity.checked} referenced assets present`);
  return `${parts.join("; ")}.`;
}
