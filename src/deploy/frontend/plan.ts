import { createHash } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import type { EnvConfig } from "../../config/schema.js";
import { ConfigError } from "../../core/errors.js";
import { quote } from "../../core/quote.js";
import { type BucketDiff, diffBucket, type FrontendManifest, headRemote, type RemoteObject } from "./diff.js";
import { decideStale, type LiveRelease, type StaleDecision } from "./stale.js";

/** The plan as tools return it: counts plus bounded file lists. */
export interface FrontendPlan {
  upload: number;
  unchanged: number;
  delete: number;
  /** Bytes sent to S3 (headers-only fixes are server-side copies and send none). */
  bytes: number;
  uploadFiles: string[];
  deleteFiles: string[];
  /** Files in the new release. */
  files: number;
  /** Stale files kept for the grace period. */
  keptStale: number;
  buckets: string[];
  /** Dotfiles in dist/ that no frontend.uploadDotfiles rule allows: not uploaded. */
  skippedDotfiles: number;
  /** The first FILE_LIST_LIMIT of them (file names from the repo: data, quoted). */
  skippedDotfileList: string[];
  /** True when uploadFiles, deleteFiles or skippedDotfileList were cut to the first FILE_LIST_LIMIT. */
  truncated: boolean;
}

export const FILE_LIST_LIMIT = 50;

/** Longest skipped dotfile name the plan quotes. */
const SKIPPED_NAME_CHARS = 300;

export interface BucketPlan {
  diffs: BucketDiff[];
  stale: Map<string, StaleDecision>;
  plan: FrontendPlan;
  /** Compact, canonical form whose digest a confirmation token confirms. */
  digestable: Record<string, unknown>;
}

/** Safety: stale-file deletion in a bucket that also holds locks and release records would destroy them. */
export function assertSeparateArtifactBucket(env: EnvConfig): void {
  if (env.frontend.buckets.includes(env.lambda.artifactBucket)) {
    throw new ConfigError(
      `lambda.artifactBucket "${env.lambda.artifactBucket}" is also a frontend bucket; stale-file cleanup would delete release records and locks. Use a separate artifact bucket.`,
    );
  }
}

/** Diffs the desired manifest against every bucket and decides what stale files may go. */
export async function planBuckets(
  s3: S3Client,
  env: EnvConfig,
  desired: FrontendManifest,
  options: {
    history: LiveRelease[];
    now: Date;
    graceHours: number;
    prune: boolean;
    /** Rollback: delete nothing (the rolled-back release's files age out on a later deploy). */
    keepStale?: boolean;
    /** Keys of the dotfiles walkDist skipped (sorted); none for a rollback. */
    skippedDotfiles?: readonly string[];
    signal: AbortSignal;
    extraDigest?: Record<string, unknown>;
    /** Listings started early, by bucket (each used once; a bucket without one is listed here). */
    listings?: ReadonlyMap<string, Promise<RemoteObject[]>>;
  },
): Promise<BucketPlan> {
  // The newest live release's manifest and finish time answer for the objects it left there
  // untouched, so only the others are read with HeadObject (diff.ts).
  const liveManifest = options.history[0]?.manifest ?? null;
  const liveFinishedAt = options.history[0]?.finishedAt ?? null;
  // The buckets are independent: listing them at once costs one listing's wait, not one per bucket.
  const diffs: BucketDiff[] = await Promise.all(
    env.frontend.buckets.map((bucket) =>
      diffBucket(s3, bucket, desired, {
        liveManifest,
        liveFinishedAt,
        signal: options.signal,
        ...(options.listings?.has(bucket) ? { listing: options.listings.get(bucket) } : {}),
      }),
    ),
  );
  const stale = new Map<string, StaleDecision>();
  for (const diff of diffs) {
    const bucket = diff.bucket;
    const decision = decideStale(diff.stale, options.history, {
      now: options.now,
      graceHours: options.graceHours,
      prune: options.prune,
    });
    if (options.keepStale) {
      decision.keep.push(
        ...decision.delete.map((o) => ({ key: o.key, deletableAfter: options.now.toISOString() })),
      );
      decision.delete = [];
    }
    stale.set(bucket, decision);
  }
  const uploadKeys = new Set(diffs.flatMap((diff) => diff.upload.map((u) => u.key)));
  const deleteKeys = new Set([...stale.values()].flatMap((d) => d.delete.map((o) => o.key)));
  const keptKeys = new Set([...stale.values()].flatMap((d) => d.keep.map((k) => k.key)));
  const bytes = diffs.reduce(
    (sum, diff) =>
      sum + diff.upload.reduce((s, u) => s + (u.reason === "headers" ? 0 : (desired[u.key]?.size ?? 0)), 0),
    0,
  );
  const sortedUploads = [...uploadKeys].sort();
  const sortedDeletes = [...deleteKeys].sort();
  const skipped = options.skippedDotfiles ?? [];
  const plan: FrontendPlan = {
    upload: uploadKeys.size,
    unchanged: Object.keys(desired).length - uploadKeys.size,
    delete: deleteKeys.size,
    bytes,
    uploadFiles: sortedUploads.slice(0, FILE_LIST_LIMIT),
    deleteFiles: sortedDeletes.slice(0, FILE_LIST_LIMIT),
    files: Object.keys(desired).length,
    keptStale: keptKeys.size,
    buckets: [...env.frontend.buckets],
    skippedDotfiles: skipped.length,
    skippedDotfileList: skipped.slice(0, FILE_LIST_LIMIT).map((key) => quote(key, SKIPPED_NAME_CHARS)),
    truncated:
      sortedUploads.length > FILE_LIST_LIMIT ||
      sortedDeletes.length > FILE_LIST_LIMIT ||
      skipped.length > FILE_LIST_LIMIT,
  };
  // The digest covers every file and hash without putting 2,000 names in a token refusal.
  const digestable = {
    ...(options.extraDigest ?? {}),
    buckets: plan.buckets,
    manifestSha256: manifestDigest(desired),
    uploads: sha256Hex(JSON.stringify(diffs.map((d) => [d.bucket, d.upload.map((u) => [u.key, u.reason])]))),
    deletes: sha256Hex(JSON.stringify(sortedDeletes)),
    upload: plan.upload,
    delete: plan.delete,
    bytes: plan.bytes,
    uploadFiles: plan.uploadFiles,
    deleteFiles: plan.deleteFiles,
    // What is left out is part of what the person approves, like what goes in.
    ...(skipped.length ? { skippedDotfiles: sha256Hex(JSON.stringify(skipped)) } : {}),
  };
  return { diffs, stale, plan, digestable };
}

export function deletionsOf(stale: Map<string, StaleDecision>): Map<string, RemoteObject[]> {
  return new Map([...stale].map(([bucket, decision]) => [bucket, decision.delete]));
}

export function manifestDigest(manifest: FrontendManifest): string {
  const keys = Object.keys(manifest).sort();
  return sha256Hex(
    JSON.stringify(
      keys.map((key) => {
        const e = manifest[key];
        return [key, e?.sha256, e?.contentType, e?.cacheControl];
      }),
    ),
  );
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The sha256 of the index.html the primary bucket serves now (null when absent or not ours). */
export async function liveIndexSha256(s3: S3Client, env: EnvConfig): Promise<string | null> {
  const primary = env.frontend.buckets[0] as string;
  return (await headRemote(s3, primary, "index.html"))?.sha256 ?? null;
}
