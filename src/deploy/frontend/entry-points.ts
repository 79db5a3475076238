import { createHash } from "node:crypto";
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import * as z from "zod";
import { copySource } from "../../aws/copy-source.js";
import { isAwsErrorNamed, mapAwsError } from "../../aws/errors.js";
import { headRemote } from "./diff.js";
import { preserveObject, storeKey } from "./store.js";

/**
 * The entry points (index.html, sw.js, the web manifest, …) are what make a frontend release
 * live, and they are overwritten in place. Before any of them is written, the ones it will
 * replace are kept in the content store and listed in the release record, so that an undo —
 * in this call or in the recovery of a killed one — can put exactly them back.
 */
export const entryPointSnapshotSchema = z.object({
  bucket: z.string(),
  key: z.string(),
  /** Content of the previous object (in the content store); null when there was none. */
  previousSha256: z.string().nullable(),
  /** Content the release writes. */
  nextSha256: z.string(),
});
export type EntryPointSnapshot = z.infer<typeof entryPointSnapshotSchema>;

/** The content hash of an object: its sha256 metadata when we wrote it, else its bytes hashed. */
export async function contentSha256(s3: S3Client, bucket: string, key: string): Promise<string | null> {
  const head = await headRemote(s3, bucket, key);
  if (!head) return null;
  if (head.sha256) return head.sha256;
  const bytes = await readObjectBytes(s3, bucket, key);
  return bytes === null ? null : createHash("sha256").update(bytes).digest("hex");
}

/** Hashes the live bytes (the drift and recovery checks do not trust metadata alone). */
export async function hashedContent(s3: S3Client, bucket: string, key: string): Promise<string | null> {
  const bytes = await readObjectBytes(s3, bucket, key);
  return bytes === null ? null : createHash("sha256").update(bytes).digest("hex");
}

async function readObjectBytes(s3: S3Client, bucket: string, key: string): Promise<Uint8Array | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await out.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (error) {
    if (isAwsErrorNamed(error, "NoSuchKey", "NotFound")) return null;
    throw mapAwsError(error, "s3:GetObject", `s3://${bucket}/${key}`);
  }
}

/**
 * Keeps every entry point the release will overwrite in the content store and returns the
 * snapshot an undo restores from. Entry points are few; each is read once.
 */
export async function snapshotEntryPoints(
  s3: S3Client,
  artifactBucket: string,
  writes: Array<{ bucket: string; key: string; nextSha256: string }>,
  /** Contents the store is known to hold; what this keeps is added. */
  kept: Set<string> = new Set(),
): Promise<EntryPointSnapshot[]> {
  // All at once: each costs two or three round trips, and they are independent (copying the
  // same content twice to its content-addressed key is harmless).
  return Promise.all(
    writes.map(async (write): Promise<EntryPointSnapshot> => {
      const previousSha256 = await contentSha256(s3, write.bucket, write.key);
      if (previousSha256 && previousSha256 !== write.nextSha256) {
        // Safety: the bytes a visitor gets today are copied before anything can overwrite them.
        await preserveObject(
          s3,
          artifactBucket,
          { bucket: write.bucket, key: write.key, sha256: previousSha256 },
          kept,
        );
      }
      return { ...write, previousSha256 };
    }),
  );
}

export type EntryPointState = "previous" | "next" | "mixed" | "other";

/** Which release the entry points now belong to, read back from S3 (bytes for index.html). */
export async function readEntryPointState(
  s3: S3Client,
  snapshot: EntryPointSnapshot[],
): Promise<{ state: EntryPointState; live: Array<{ bucket: string; key: string; sha256: string | null }> }> {
  const live = await Promise.all(
    snapshot.map(async (entry) => ({
      bucket: entry.bucket,
      key: entry.key,
      sha256:
        entry.key === "index.html"
          ? await hashedContent(s3, entry.bucket, entry.key)
          : await contentSha256(s3, entry.bucket, entry.key),
    })),
  );
  const isPrevious = snapshot.every((e, i) => live[i]?.sha256 === e.previousSha256);
  const isNext = snapshot.every((e, i) => live[i]?.sha256 === e.nextSha256);
  const known = snapshot.every(
    (e, i) => live[i]?.sha256 === e.previousSha256 || live[i]?.sha256 === e.nextSha256,
  );
  const state: EntryPointState = isPrevious ? "previous" : isNext ? "next" : known ? "mixed" : "other";
  return { state, live };
}

/**
 * Puts the previous entry points back: index.html first, so a visitor is served the previous
 * page (whose assets were never deleted) as soon as possible; entry points the release added
 * are removed. Idempotent: an entry point already back is skipped.
 */
export async function restoreEntryPoints(
  s3: S3Client,
  artifactBucket: string,
  snapshot: EntryPointSnapshot[],
  progress: (message: string) => void,
): Promise<"undone" | "nothing_to_undo"> {
  const ordered = [...snapshot].sort((a, b) => rank(a.key) - rank(b.key));
  let changed = 0;
  for (const entry of ordered) {
    const live = await contentSha256(s3, entry.bucket, entry.key);
    if (live === entry.previousSha256) continue;
    changed++;
    if (entry.previousSha256 === null) {
      progress(`Removing ${entry.key} from s3://${entry.bucket} (the release added it)`);
      await send(
        s3,
        new DeleteObjectCommand({ Bucket: entry.bucket, Key: entry.key }),
        "s3:DeleteObject",
        entry,
      );
      continue;
    }
    progress(`Putting the previous ${entry.key} back into s3://${entry.bucket}`);
    await send(
      s3,
      new CopyObjectCommand({
        Bucket: entry.bucket,
        Key: entry.key,
        CopySource: copySource(artifactBucket, storeKey(entry.previousSha256)),
        // The stored copy kept the original's Content-Type, Cache-Control and metadata.
        MetadataDirective: "COPY",
      }),
      "s3:CopyObject",
      entry,
    );
  }
  return changed ? "undone" : "nothing_to_undo";
}

function rank(key: string): number {
  return key === "index.html" ? 0 : 1;
}

async function send(
  s3: S3Client,
  command: CopyObjectCommand | DeleteObjectCommand,
  action: string,
  entry: EntryPointSnapshot,
): Promise<void> {
  try {
    // biome-ignore lint/suspicious/noExplicitAny: the two commands share S3Client.send's overloads.
    await s3.send(command as any);
  } catch (error) {
    throw mapAwsError(error, action, `s3://${entry.bucket}/${entry.key}`);
  }
}

/** The one command that puts one entry point back by hand. */
export function restoreEntryPointCommand(artifactBucket: string, entry: EntryPointSnapshot): string {
  return entry.previousSha256
    ? `aws s3 cp s3://${artifactBucket}/${storeKey(entry.previousSha256)} s3://${entry.bucket}/${entry.key}`
    : `aws s3 rm s3://${entry.bucket}/${entry.key}`;
}
