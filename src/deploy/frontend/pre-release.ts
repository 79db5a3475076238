import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from "@aws-sdk/client-s3";
import { isAwsErrorNamed, mapAwsError } from "../../aws/errors.js";
import type { ProgressReporter } from "../../core/context.js";
import type { ReleaseRecord } from "../../release/types.js";
import { forEachBounded } from "./bounded.js";
import {
  type BucketDiff,
  type FrontendManifest,
  isSinglePartEtag,
  type ManifestEntry,
  stripQuotes,
} from "./diff.js";
import { preserveObject } from "./store.js";

/**
 * The site as it was before the first release this tool made, as a rollback target.
 *
 * Later releases are rolled back to the release before them, whose manifest is recorded. The
 * first one replaces files no release recorded (a hand `aws s3 sync`), so before it changes
 * anything it describes the primary bucket as it is — a manifest in its record's
 * `before.manifest` — and keeps in the content store the bytes it will overwrite or delete.
 * Files whose bytes it does not change are described by the new release's entry (the headers
 * it only corrected keep its rules); files it changes, and files it leaves stale, by what the
 * bucket holds (their bytes hashed when no `sha256` metadata says it).
 */

/** More objects than this to read and hash is not a site; the first release then keeps no way back. */
export const MAX_PRE_RELEASE_READS = 5_000;
const READ_CONCURRENCY = 16;

export type PreReleaseState =
  | { manifest: FrontendManifest }
  /** reason null: nothing was served before (no index.html), so there is nothing to go back to. */
  | { manifest: null; reason: string | null };

export async function keepPreReleaseState(input: {
  s3: S3Client;
  artifactBucket: string;
  /** The primary bucket's diff against the new release. */
  diff: BucketDiff;
  desired: FrontendManifest;
  /** Keys the release deletes from the primary bucket (prune). */
  deleted: ReadonlySet<string>;
  signal: AbortSignal;
  progress: ProgressReporter;
}): Promise<PreReleaseState> {
  const { s3, diff, desired } = input;
  const bucket = diff.bucket;
  const changed = new Set(diff.upload.filter((u) => u.reason === "changed").map((u) => u.key));
  const toRead = [...changed, ...diff.stale.map((o) => o.key)];
  if (toRead.length > MAX_PRE_RELEASE_READS) {
    return {
      manifest: null,
      reason: `the release would have to read ${toRead.length} objects of s3://${bucket} (more than ${MAX_PRE_RELEASE_READS}) to describe them`,
    };
  }
  const manifest: FrontendManifest = {};
  for (const key of diff.unchanged) manifest[key] = desired[key] as ManifestEntry;
  for (const upload of diff.upload)
    if (upload.reason === "headers") manifest[upload.key] = desired[upload.key] as ManifestEntry;
  if (toRead.length)
    input.progress(`Keeping the site before this first release: reading ${toRead.length} object(s)`);
  const kept = new Set<string>();
  await forEachBounded(
    toRead,
    READ_CONCURRENCY,
    async (key) => {
      const found = await describeObject(s3, bucket, key);
      if (!found) return;
      manifest[key] = found.entry;
      // Safety: bytes this release overwrites or deletes, and bytes a later diff could not
      // recognise by their ETag, are copied before anything can replace them.
      if (changed.has(key) || input.deleted.has(key) || !isSinglePartEtag(found.etag)) {
        await preserveObject(s3, input.artifactBucket, { bucket, key, sha256: found.entry.sha256 }, kept);
      }
    },
    input.signal,
  );
  if (!manifest["index.html"]) return { manifest: null, reason: null };
  return {
    manifest: Object.fromEntries(
      Object.keys(manifest)
        .sort()
        .map((key) => [key, manifest[key]]),
    ) as FrontendManifest,
  };
}

/** One object as a manifest entry: its headers, and its content hash (metadata, else its bytes). */
async function describeObject(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ entry: ManifestEntry; etag: string } | null> {
  let head: HeadObjectCommandOutput;
  try {
    // No abortSignal per call: 16 at once would each hang listeners on the call's one signal;
    // forEachBounded stops between objects, and one object is small.
    head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isAwsErrorNamed(error, "NotFound", "NoSuchKey")) return null;
    throw mapAwsError(error, "s3:HeadObject", `bucket ${bucket}`);
  }
  const etag = stripQuotes(head.ETag ?? "");
  const headers = { contentType: head.ContentType ?? "", cacheControl: head.CacheControl ?? "" };
  const recorded = head.Metadata?.sha256;
  if (recorded && /^[0-9a-f]{64}$/.test(recorded)) {
    return { entry: { sha256: recorded, md5: etag, size: head.ContentLength ?? 0, ...headers }, etag };
  }
  const hashed = await hashObject(s3, bucket, key);
  if (!hashed) return null;
  return { entry: { ...hashed, ...headers }, etag };
}

async function hashObject(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ sha256: string; md5: string; size: number } | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const sha256 = createHash("sha256");
    const md5 = createHash("md5");
    let size = 0;
    for await (const chunk of out.Body as Readable) {
      sha256.update(chunk as Buffer);
      md5.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { sha256: sha256.digest("hex"), md5: md5.digest("hex"), size };
  } catch (error) {
    if (isAwsErrorNamed(error, "NotFound", "NoSuchKey")) return null;
    throw mapAwsError(error, "s3:GetObject", `bucket ${bucket}`);
  }
}

/**
 * The site before a release, when its record describes one that a rollback can restore (a
 * manifest with index.html whose entries have the shape this server writes).
 */
export function preReleaseManifestOf(record: ReleaseRecord): FrontendManifest | null {
  const manifest = (record.before as { manifest?: unknown }).manifest;
  if (typeof manifest !== "object" || manifest === null || Array.isArray(manifest)) return null;
  const entries = Object.entries(manifest as Record<string, unknown>);
  const valid = entries.every(([, value]) => isManifestEntry(value));
  return valid && "index.html" in manifest ? (manifest as FrontendManifest) : null;
}

function isManifestEntry(value: unknown): value is ManifestEntry {
  const entry = value as Partial<ManifestEntry> | null;
  return (
    typeof entry === "object" &&
    entry !== null &&
    typeof entry.sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(entry.sha256) &&
    typeof entry.md5 === "string" &&
    typeof entry.size === "number" &&
    typeof entry.contentType === "string" &&
    typeof entry.cacheControl === "string"
  );
}
