import type { S3Client } from "@aws-sdk/client-s3";
import { DeployError } from "../../core/errors.js";
import { isReleaseId, loadReleaseRecord } from "../../release/records.js";
import type { ReleaseRecord } from "../../release/types.js";
import { forEachBounded } from "./bounded.js";
import { describePlan, type FrontendSpec } from "./deploy.js";
import type { FrontendDeps } from "./deps.js";
import type { FrontendManifest } from "./diff.js";
import { knownSha256From, loadLiveHistory, toLiveRelease, wasLive } from "./history.js";
import { readObjectText } from "./integrity.js";
import { assertSeparateArtifactBucket, type FrontendPlan, liveIndexSha256, planBuckets } from "./plan.js";
import { preReleaseManifestOf } from "./pre-release.js";
import { frontendReleaseSpec } from "./release.js";
import type { LiveRelease } from "./stale.js";
import { storeHas, storeKey } from "./store.js";

/** Records searched for the live and the previous release. */
const ROLLBACK_HISTORY = 20;

export interface FrontendRollbackRequest {
  to?: string | undefined;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}

export interface PreparedFrontendRollback {
  from: string | null;
  to: string;
  plan: FrontendPlan;
  planText: string;
  /** Null when the target's files already serve. */
  spec: FrontendSpec | null;
}

/**
 * Frontend rollback up to the release: makes the previous (or the named) release's manifest
 * live again. Files whose bytes differ are restored server-side from the content store
 * (`frontend-objects/<sha256>`, see store.ts) with CopyObject, through the same release
 * steps as a deploy (frontendReleaseSpec). Nothing is deleted: the newer release's files stay
 * as stale files and age out on a later deploy.
 */
export async function prepareFrontendRollback(
  deps: FrontendDeps,
  request: FrontendRollbackRequest,
): Promise<PreparedFrontendRollback> {
  assertSeparateArtifactBucket(deps.env);
  const s3 = deps.s3;
  const artifactBucket = deps.env.lambda.artifactBucket;
  const { live: history, records } = await loadLiveHistory(
    s3,
    artifactBucket,
    deps.envName,
    ROLLBACK_HISTORY,
  );
  const liveSha = await liveIndexSha256(s3, deps.env);
  const current = history.find((release) => release.manifest["index.html"]?.sha256 === liveSha) ?? null;
  const from = current?.releaseId ?? (liveSha ? `index.html sha256 ${liveSha.slice(0, 12)}` : null);
  const target = await chooseTarget(s3, deps, { history, records }, current, liveSha, request.to);
  const desired = target.manifest;
  const to = target.label ?? target.releaseId;
  const where = `${deps.envName} (${deps.env.frontend.buckets.join(", ")})`;
  const planAgainst = () =>
    planBuckets(s3, deps.env, desired, {
      history,
      now: deps.now(),
      graceHours: deps.frontend.staleGraceHours,
      prune: false,
      keepStale: true,
      signal: deps.signal,
      extraDigest: { env: deps.envName, rollbackTo: target.restoredFrom ?? target.releaseId },
    });
  const planned = await planAgainst();
  const { plan } = planned;
  if (plan.upload === 0) return { from, to, plan, planText: "", spec: null };
  await assertRestorable(
    s3,
    artifactBucket,
    desired,
    planned.diffs.flatMap((d) => d.upload),
  );
  const indexSha = desired["index.html"]?.sha256 as string;
  const specFor = (p: typeof planned): FrontendSpec => {
    const indexChanges = p.diffs.some((d) =>
      d.upload.some((u) => u.key === "index.html" && u.reason !== "headers"),
    );
    return frontendReleaseSpec(deps, {
      plan: p.digestable,
      desired,
      diffs: p.diffs,
      deletions: new Map(),
      knownSha256: knownSha256From(history),
      sourceOf: () => ({ kind: "store" }),
      // The index.html about to go live: from the store when it changes, else the live one.
      newIndexHtml: () =>
        indexChanges
          ? readObjectText(s3, artifactBucket, storeKey(indexSha))
          : readObjectText(s3, deps.env.frontend.buckets[0] as string, "index.html"),
      wait: false,
      approvalText: `Roll the frontend in ${where} back from ${from ?? "an unknown release"} to ${to}: restore ${p.plan.upload} file(s).`,
      requirePreflight: false,
      confirmationToken: request.confirmationToken,
      breakLock: request.breakLock,
      record: {
        restoredFrom: target.restoredFrom ?? target.releaseId,
        artifacts: { restored: p.plan.upload },
        before: { indexHtmlSha256: liveSha, releaseId: current?.releaseId ?? null },
      },
      replan: async () => {
        const again = await planAgainst();
        return again.plan.upload === 0 ? null : specFor(again);
      },
    });
  };
  return {
    from,
    to,
    plan,
    planText: `restore ${plan.upload} file(s) from the content store; ${describePlan(plan)}`,
    spec: specFor(planned),
  };
}

/** A release's manifest, or (label set) the site as it was before a release. */
type RollbackTarget = LiveRelease & { label?: string; restoredFrom?: string };

async function chooseTarget(
  s3: S3Client,
  ctx: Pick<FrontendDeps, "env" | "envName">,
  { history, records }: { history: LiveRelease[]; records: ReleaseRecord[] },
  current: LiveRelease | null,
  liveSha: string | null,
  to: string | undefined,
): Promise<RollbackTarget> {
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
  if (previous) return previous;
  // No earlier release of this tool: the way back is the site as it was before the first one.
  for (const record of records) {
    if (record.status === "in_progress") continue;
    const manifest = preReleaseManifestOf(record);
    if (!manifest || manifest["index.html"]?.sha256 === liveSha) continue;
    return {
      releaseId: record.releaseId,
      startedAt: record.startedAt,
      finishedAt: record.finishedAt,
      manifest,
      label: `the site before release ${record.releaseId}`,
      restoredFrom: `before ${record.releaseId}`,
    };
  }
  throw new DeployError(
    "PRECONDITION",
    `No earlier frontend release of ${ctx.envName} to roll back to (${history.length} release record(s) with a manifest), and no record keeps the site as it was before one. Name one with \`to\`, or redeploy a known-good build.`,
  );
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
