import type { S3Client } from "@aws-sdk/client-s3";
import { CancelledError, DeployError } from "../../core/errors.js";
import type { ToolContext } from "../../release/context.js";
import type { MutationOutcome, ReleaseHandle, ReleaseRecord } from "../../release/types.js";
import type { BucketDiff, FrontendManifest, RemoteObject } from "./diff.js";
import { isEntryPoint } from "./headers.js";
import { checkLiveIntegrity, type IntegrityReport, missingKeys, referencedKeys } from "./integrity.js";
import {
  createInvalidation,
  type InvalidationResult,
  invalidationPaths,
  waitForInvalidation,
} from "./invalidation.js";
import {
  type ContentSource,
  deleteStale,
  publishEntryPoints,
  type SyncContext,
  uploadAssets,
} from "./sync.js";

/** Everything needed to make a desired manifest live in every bucket. */
export interface ApplyInput {
  s3: S3Client;
  desired: FrontendManifest;
  diffs: BucketDiff[];
  /** Per bucket, the stale objects to delete after the switch. */
  deletions: Map<string, RemoteObject[]>;
  /** Content hashes of objects known from release manifests (saves a HeadObject before keeping them). */
  knownSha256: (object: RemoteObject) => string | null;
  sourceOf: (key: string) => ContentSource;
  /** The new index.html, to check its references before it goes live. */
  newIndexHtml: () => Promise<string>;
  wait: boolean;
}

export interface ApplyResult {
  /** True once any bucket serves the new index.html (or none needed a new one). */
  switched: boolean;
  uploadedFiles: number;
  uploadedBytes: number;
  deleted: number;
  invalidation: InvalidationResult | null;
  integrity: IntegrityReport | null;
  warnings: string[];
  timings: Record<string, number>;
  /** Set when the apply stopped early; the message says what is live. */
  error: string | null;
}

// Measured against moto with the 2,000-file bench dist: 8 uploads at a time were as fast as 16
// (the emulator, not the client, bounds the rate) and peaked ~25 MB lower in server RSS.
const UPLOAD_CONCURRENCY = 8;

/**
 * The release steps shared by deploy and rollback, in the order that keeps the site whole:
 * assets → check every asset the new index.html references is in place → entry points
 * (index.html last) → record what is live → delete stale files → invalidate → read back.
 * A failure before the switch leaves the previous release live and is returned as `error`.
 * Cancellation propagates (the guard records it).
 */
export async function applyFrontendRelease(
  ctx: ToolContext,
  release: ReleaseHandle,
  input: ApplyInput,
  onSwitched: () => Promise<void>,
): Promise<ApplyResult> {
  const result: ApplyResult = {
    switched: false,
    uploadedFiles: 0,
    uploadedBytes: 0,
    deleted: 0,
    invalidation: null,
    integrity: null,
    warnings: [],
    timings: {},
    error: null,
  };
  const sync: SyncContext = {
    s3: input.s3,
    artifactBucket: ctx.env.lambda.artifactBucket,
    isEntryPoint: (key) => isEntryPoint(key, ctx.config.frontend),
    sourceOf: input.sourceOf,
    desired: input.desired,
    concurrency: UPLOAD_CONCURRENCY,
    signal: ctx.signal,
    progress: ctx.progress,
    kept: new Set(),
  };
  const timed = async <T>(step: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      result.timings[step] = Math.round(performance.now() - started);
    }
  };

  try {
    const assets = await timed("uploadAssetsMs", () => uploadAssets(sync, input.diffs));
    const others = await timed("publishEntryPointsMs", () => publishEntryPoints(sync, input.diffs, "others"));
    const references = referencedKeys(await input.newIndexHtml());
    await timed("preSwitchCheckMs", async () => {
      for (const diff of input.diffs) {
        const missing = await missingKeys(input.s3, diff.bucket, references);
        if (missing.length) {
          // Safety: never publish an index.html that points at files the bucket lacks.
          throw new DeployError(
            "PRECONDITION",
            `The new index.html references ${missing.length} file(s) not in s3://${diff.bucket} (e.g. ${missing.slice(0, 3).join(", ")}).`,
          );
        }
      }
    });
    const index = await timed("switchMs", () => publishEntryPoints(sync, input.diffs, "index"));
    result.switched = true;
    result.uploadedFiles = assets.files + others.files + index.files;
    result.uploadedBytes = assets.bytes + others.bytes + index.bytes;
  } catch (error) {
    if (error instanceof CancelledError || ctx.signal.aborted) throw error;
    result.error = `${(error as Error).message} The previous release is still live: index.html was not switched.`;
    return result;
  }

  await onSwitched();

  // After the switch nothing can make the site worse, so a failure below is reported, not fatal.
  for (const [bucket, objects] of input.deletions) {
    if (!objects.length) continue;
    try {
      result.deleted += await timed("deleteStaleMs", () =>
        deleteStale(sync, bucket, objects, input.knownSha256),
      );
    } catch (error) {
      if (error instanceof CancelledError) throw error;
      result.warnings.push(`Stale files in s3://${bucket} were not all deleted: ${(error as Error).message}`);
    }
  }
  result.invalidation = await timed("invalidationMs", () =>
    invalidate(ctx, input, release.releaseId, result.warnings),
  );
  result.integrity = await timed("integrityMs", () =>
    checkLiveIntegrity(
      input.s3,
      input.diffs.map((diff) => diff.bucket),
      { url: ctx.env.frontend.url },
    ),
  );
  result.warnings.push(...result.integrity.warnings);
  return result;
}

/**
 * The guarded outcome of an apply, as deploy and rollback both record it: succeeded only when
 * nothing failed and the read-back passed; `after` names the new index.html only once it is
 * live (before the switch the previous one still is).
 */
export function applyOutcome(
  applied: ApplyResult,
  live: { beforeIndexSha256: string | null; newIndexSha256: string; manifest: FrontendManifest },
  record: Pick<ReleaseRecord, "artifacts" | "before"> & Pick<Partial<ReleaseRecord>, "restoredFrom">,
): MutationOutcome<ApplyResult> {
  const ok = applied.error === null && (applied.integrity?.ok ?? false);
  return {
    status: ok ? "succeeded" : "failed",
    result: applied,
    record: {
      ...record,
      after: applied.switched
        ? { indexHtmlSha256: live.newIndexSha256, switched: true }
        : { indexHtmlSha256: live.beforeIndexSha256, switched: false },
      ...(applied.switched ? { manifest: live.manifest } : {}),
      health: applied.integrity,
      timings: applied.timings,
      ...(applied.error ? { error: applied.error } : {}),
    },
  };
}

async function invalidate(
  ctx: ToolContext,
  input: ApplyInput,
  releaseId: string,
  warnings: string[],
): Promise<InvalidationResult | null> {
  const distributionId = ctx.env.frontend.distributionId;
  if (!distributionId) return null;
  const changed = new Map<string, string>();
  for (const diff of input.diffs)
    for (const upload of diff.upload) changed.set(upload.key, input.desired[upload.key]?.cacheControl ?? "");
  const paths = invalidationPaths(
    [...changed].map(([key, cacheControl]) => ({ key, cacheControl })),
    ctx.config.frontend.invalidateAllThreshold,
  );
  if (!paths.length) return null;
  const cloudFront = await ctx.aws.cloudFront();
  try {
    const created = await createInvalidation(cloudFront, distributionId, paths, releaseId);
    if (input.wait && created.id) {
      ctx.progress(`Waiting for CloudFront invalidation ${created.id}`);
      created.status = await waitForInvalidation(cloudFront, distributionId, created.id, {
        signal: ctx.signal,
        onPoll: (status) => ctx.progress(`Invalidation ${created.id}: ${status}`),
      });
    }
    return created;
  } catch (error) {
    if (error instanceof CancelledError) throw error;
    warnings.push(
      `The new release is live but the CloudFront invalidation failed: ${(error as Error).message} Invalidate ${paths.join(" ")} by hand.`,
    );
    return null;
  }
}
