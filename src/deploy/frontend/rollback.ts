import type { S3Client } from "@aws-sdk/client-s3";
import { DeployError } from "../../core/errors.js";
import type { ToolContext } from "../../release/context.js";
import { isReleaseId, loadReleaseRecord } from "../../release/records.js";
import { runGuardedMutation } from "../../release/run-release.js";
import type { MutationOutcome } from "../../release/types.js";
import type { RollbackOutput, RollbackRequest } from "../rollback-types.js";
import { type ApplyResult, applyFrontendRelease, applyOutcome } from "./apply.js";
import { forEachBounded } from "./bounded.js";
import { describePlan } from "./deploy.js";
import type { FrontendManifest } from "./diff.js";
import { knownSha256From, loadLiveHistory, toLiveRelease, wasLive } from "./history.js";
import { readObjectText } from "./integrity.js";
import { assertSeparateArtifactBucket, liveIndexSha256, planBuckets } from "./plan.js";
import type { LiveRelease } from "./stale.js";
import { storeHas, storeKey } from "./store.js";

/** Records searched for the live and the previous release. */
const ROLLBACK_HISTORY = 20;

/**
 * Frontend rollback: makes the previous (or the named) release's manifest live again.
 * Files whose bytes differ are restored server-side from the content store
 * (`frontend-objects/<sha256>`, see frontend-store.ts) with CopyObject, through the same
 * steps as a deploy: assets, reference check, entry points with index.html last,
 * invalidation, read-back check. Nothing is deleted: the newer release's files stay as
 * stale files and age out on a later deploy.
 */
export async function rollbackFrontend(ctx: ToolContext, request: RollbackRequest): Promise<RollbackOutput> {
  assertSeparateArtifactBucket(ctx.env);
  const s3 = await ctx.aws.s3();
  const artifactBucket = ctx.env.lambda.artifactBucket;
  const { live: history } = await loadLiveHistory(s3, artifactBucket, ctx.envName, ROLLBACK_HISTORY);
  const liveSha = await liveIndexSha256(s3, ctx.env);
  const current = history.find((release) => release.manifest["index.html"]?.sha256 === liveSha) ?? null;
  const from = current?.releaseId ?? (liveSha ? `index.html sha256 ${liveSha.slice(0, 12)}` : null);
  const target = await chooseTarget(s3, ctx, history, current, liveSha, request.to);
  const desired = target.manifest;
  const where = `${ctx.envName} (${ctx.env.frontend.buckets.join(", ")})`;

  const planned = await planBuckets(s3, ctx.env, desired, {
    history,
    now: ctx.now(),
    graceHours: ctx.config.frontend.staleGraceHours,
    prune: false,
    keepStale: true,
    signal: ctx.signal,
    extraDigest: { env: ctx.envName, rollbackTo: target.releaseId },
  });
  const { plan } = planned;
  const planRecord = { ...plan } as unknown as Record<string, unknown>;
  if (plan.upload === 0) {
    return {
      summary: `The frontend in ${where} already serves release ${target.releaseId}'s files; nothing to roll back.`,
      status: "unchanged",
      from,
      to: target.releaseId,
      plan: planRecord,
    };
  }
  await assertRestorable(
    s3,
    artifactBucket,
    desired,
    planned.diffs.flatMap((d) => d.upload),
  );
  const planText = describePlan(plan);
  if (request.dryRun) {
    return {
      summary: `Dry run: rolling the frontend in ${where} back from ${from ?? "an unknown release"} to ${target.releaseId} would restore ${plan.upload} file(s) from the content store; ${planText}. Nothing was changed.`,
      status: "planned",
      from,
      to: target.releaseId,
      plan: planRecord,
    };
  }

  const indexSha = desired["index.html"]?.sha256 as string;
  const indexChanges = planned.diffs.some((d) =>
    d.upload.some((u) => u.key === "index.html" && u.reason !== "headers"),
  );
  const guarded = await runGuardedMutation(
    {
      ctx,
      component: "frontend",
      plan: planned.digestable,
      planSummary: `Roll the frontend in ${where} back from ${from ?? "an unknown release"} to ${target.releaseId}: restore ${plan.upload} file(s).`,
      confirmationToken: request.confirmationToken,
      breakLock: request.breakLock,
      requirePreflight: false,
    },
    async (release): Promise<MutationOutcome<ApplyResult>> => {
      const applied = await applyFrontendRelease(
        ctx,
        release,
        {
          s3,
          desired,
          diffs: planned.diffs,
          deletions: new Map(),
          knownSha256: knownSha256From(history),
          sourceOf: () => ({ kind: "store" }),
          // The index.html about to go live: from the store when it changes, else the live one.
          newIndexHtml: () =>
            indexChanges
              ? readObjectText(s3, artifactBucket, storeKey(indexSha))
              : readObjectText(s3, ctx.env.frontend.buckets[0] as string, "index.html"),
          wait: false,
        },
        () =>
          release.update({
            manifest: desired,
            restoredFrom: target.releaseId,
            after: { indexHtmlSha256: indexSha, switched: true },
          }),
      );
      return applyOutcome(
        applied,
        { beforeIndexSha256: liveSha, newIndexSha256: indexSha, manifest: desired },
        {
          restoredFrom: target.releaseId,
          artifacts: { restored: applied.uploadedFiles, invalidationId: applied.invalidation?.id ?? null },
          before: { indexHtmlSha256: liveSha, releaseId: current?.releaseId ?? null },
        },
      );
    },
  );

  if (guarded.kind === "confirmation_required") {
    return {
      summary: `Rolling back the frontend of protected env ${where} to ${target.releaseId} needs confirmation (${plan.upload} file(s) restored). Show this to the user; if they agree, call rollback again with the same arguments and this confirmationToken (valid until ${guarded.expiresAt}).`,
      status: "confirmation_required",
      from,
      to: target.releaseId,
      plan: planRecord,
      confirmationToken: guarded.confirmationToken,
      expiresAt: guarded.expiresAt,
    };
  }
  const applied = guarded.result;
  const ok = guarded.status === "succeeded";
  const health: Record<string, unknown> = {
    integrity: applied.integrity,
    invalidation: applied.invalidation,
    warnings: [...applied.warnings, ...(guarded.warnings ?? [])],
  };
  const summary = applied.error
    ? `Rollback of the frontend in ${where} to ${target.releaseId} failed: ${applied.error}`
    : ok
      ? `Rolled the frontend in ${where} back from ${from ?? "an unknown release"} to ${target.releaseId} (release ${guarded.releaseId}): restored ${applied.uploadedFiles} file(s)${applied.invalidation ? `, invalidation ${applied.invalidation.id}` : ""}; every asset index.html references is present.`
      : `The frontend in ${where} now serves ${target.releaseId}'s index.html, but ${applied.integrity?.missing.length ?? 0} referenced file(s) are missing; see health.integrity.`;
  return {
    summary,
    status: ok ? "rolled_back" : "failed",
    from,
    to: target.releaseId,
    releaseId: guarded.releaseId,
    health,
    plan: planRecord,
  };
}

async function chooseTarget(
  s3: S3Client,
  ctx: ToolContext,
  history: LiveRelease[],
  current: LiveRelease | null,
  liveSha: string | null,
  to: string | undefined,
): Promise<LiveRelease> {
  if (to !== undefined) {
    if (!isReleaseId(to)) {
      throw new DeployError(
        "INPUT_INVALID",
        `"${to}" is not a frontend release id (e.g. 20261125T130512345Z-3fa9c1). deploy_status lists the env's releases.`,
      );
    }
    const record = await loadReleaseRecord(s3, ctx.env.lambda.artifactBucket, ctx.envName, "frontend", to);
    if (!record) {
      throw new DeployError(
        "AWS_NOT_FOUND",
        `There is no frontend release ${to} in ${ctx.envName}. deploy_status lists the env's releases.`,
      );
    }
    if (!wasLive(record)) {
      throw new DeployError(
        "PRECONDITION",
        `Frontend release ${to} never went live (status ${record.status}); it has no manifest to restore. Pick another release from deploy_status.`,
      );
    }
    return toLiveRelease(record);
  }
  const start = current ? history.indexOf(current) + 1 : 0;
  const previous = history.slice(start).find((release) => release.manifest["index.html"]?.sha256 !== liveSha);
  if (!previous) {
    throw new DeployError(
      "PRECONDITION",
      `No earlier frontend release of ${ctx.envName} to roll back to (${history.length} release record(s) with a manifest). Name one with \`to\`, or redeploy a known-good build.`,
    );
  }
  return previous;
}

/** Safety: refuse before changing anything when some restored file's bytes were never kept. */
async function assertRestorable(
  s3: S3Client,
  artifactBucket: string,
  desired: FrontendManifest,
  uploads: Array<{ key: string; reason: string }>,
): Promise<void> {
  const needed = new Map<string, string>();
  for (const upload of uploads) {
    if (upload.reason === "headers") continue;
    const sha = desired[upload.key]?.sha256;
    if (sha) needed.set(sha, upload.key);
  }
  const missing: string[] = [];
  await forEachBounded([...needed], 16, async ([sha, key]) => {
    if (!(await storeHas(s3, artifactBucket, sha))) missing.push(key);
  });
  if (missing.length) {
    missing.sort();
    throw new DeployError(
      "PRECONDITION",
      `Cannot roll back: the content of ${missing.length} file(s) (e.g. ${missing.slice(0, 3).join(", ")}) is neither in the bucket nor in s3://${artifactBucket}/frontend-objects/. Nothing was changed. Redeploy that release's build instead.`,
    );
  }
}
