import { CopyObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { copySource } from "../../aws/copy-source.js";
import { isAwsErrorNamed, mapAwsError } from "../../aws/errors.js";

/**
 * Content-addressed copies of frontend objects, kept in the env's artifact bucket as
 * `frontend-objects/<sha256>`.
 *
 * Why this and not S3 object versions: the site buckets are not ours to configure (versioning
 * may be off, and turning it on changes billing and lifecycle for the whole bucket), and a
 * version id is per bucket, while a content hash restores the same bytes into every configured
 * bucket. Why copy-before-destroy and not a copy of every upload: a hashed asset's key never
 * gets other content, so it only needs keeping when it is deleted; the few objects that are
 * overwritten in place (index.html, sw.js, the manifest, icons) are kept just before. That
 * costs a handful of server-side CopyObject calls per deploy instead of doubling every upload,
 * and every file a release manifest lists stays restorable: either it is still at its key,
 * or it was copied here before this tool overwrote or deleted it.
 */
export const STORE_PREFIX = "frontend-objects/";

export function storeKey(sha256: string): string {
  return `${STORE_PREFIX}${sha256}`;
}

export async function storeHas(s3: S3Client, artifactBucket: string, sha256: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: artifactBucket, Key: storeKey(sha256) }));
    return true;
  } catch (error) {
    if (isAwsErrorNamed(error, "NotFound", "NoSuchKey")) return false;
    throw mapAwsError(error, "s3:HeadObject", `s3://${artifactBucket}/${storeKey(sha256)}`);
  }
}

/**
 * Keeps the object at `bucket/key` (content `sha256`) in the store unless it is already there.
 * `kept` remembers hashes handled in this run so several buckets cost one copy.
 */
export async function preserveObject(
  s3: S3Client,
  artifactBucket: string,
  object: { bucket: string; key: string; sha256: string },
  kept: Set<string>,
): Promise<void> {
  if (kept.has(object.sha256)) return;
  if (!(await storeHas(s3, artifactBucket, object.sha256))) await copyToStore(s3, artifactBucket, object);
  kept.add(object.sha256);
}

/** Copies the object at `bucket/key` (content `sha256`) into the store, server-side. */
export async function copyToStore(
  s3: S3Client,
  artifactBucket: string,
  object: { bucket: string; key: string; sha256: string },
): Promise<void> {
  try {
    // Safety: the previous release's bytes are copied before they are overwritten or
    // deleted, so rollback can put them back.
    await s3.send(
      new CopyObjectCommand({
        Bucket: artifactBucket,
        Key: storeKey(object.sha256),
        CopySource: copySource(object.bucket, object.key),
        MetadataDirective: "COPY",
      }),
    );
  } catch (error) {
    throw mapAwsError(
      error,
      "s3:CopyObject",
      `s3://${object.bucket}/${object.key} → s3://${artifactBucket}/${storeKey(object.sha256)}`,
    );
  }
}
