import { createHash } from "node:crypto";
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import * as z from "zod";
import { copySource } from "../../aws/copy-source.js";
import { isAwsErrorNamed, mapAwsError } from "../../aws/errors.js";
import { headRemote } from "./diff.js";
import { copyToStore, storeKey } from "./store.js";

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

/** What the release replaces, read before it writes anything. */
export interface ReadSnapshot {
  /** What an undo restores. */
  snapshot: EntryPointSnapshot[];
  /** Replaced contents this release has not kept yet: keepSnapshot copies them before the switch. */
  toKeep: Array<{ bucket: string; key: string; sha256: string }>;
}

/**
 * Reads every entry point the release will overwrite (their content hashes: the snapshot).
 * Reads only. The store is not asked whether it holds the replaced contents: a content the
 * release did not keep yet is copied (keepSnapshot), which costs what asking would, and a copy
 * onto its own content address is harmless. So the switch waits for one round trip, not two.
 */
export async function readSnapshot(
  s3: S3Client,
  writes: Array<{ bucket: string; key: string; nextSha256: string }>,
  /** Contents the store is known to hold. */
  kept: ReadonlySet<string>,
): Promise<ReadSnapshot> {
  // All at once: they are independent.
  const snapshot = await Promise.all(
    writes.map(async ({ bucket, key, nextSha256 }) => ({
      bucket,
      key,
      nextSha256,
      previousSha256: await contentSha256(s3, bucket, key),
    })),
  );
  const toKeep = new Map<string, ReadSnapshot["toKeep"][number]>();
  for (const entry of snapshot) {
    const previous = entry.previousSha256;
    if (previous && previous !== entry.nextSha256 && !kept.has(previous) && !toKeep.has(previous))
      toKeep.set(previous, { bucket: entry.bucket, key: entry.key, sha256: previous });
  }
  return { snapshot, toKeep: [...toKeep.values()] };
}

/** Copies the replaced contents readSnapshot names into the store (server-side, at once). */
export async function keepSnapshot(
  s3: S3Client,
  artifactBucket: string,
  toKeep: ReadSnapshot["toKeep"],
  kept: Set<string>,
): Promise<void> {
  await Promise.all(
    toKeep.map(async (object) => {
      if (kept.has(object.sha256)) return;
      await copyToStore(s3, artifactBucket, object);
      kept.add(object.sha256);
    }),
  );
}

export type EntryPointState = "previous" | "next" | "mixed" | "other";

/** Which release the entry points now belong to, read back from S3 (bytes for index.html). */
export async function readEntryPointState(
  s3: S3Client,
  snapshot: EntryPointSnapshot[],
  /** A bucket's index.html bytes hashed, when the caller reads them anyway (one GET, not two). */
  indexSha256Of: (bucket: string) => Promise<string | null> = (bucket) =>
    hashedContent(s3, bucket, "index.html"),
): Promise<{ state: EntryPointState; live: Array<{ bucket: string; key: string; sha256: string | null }> }> {
  const live = await Promise.all(
    snapshot.map(async (entry) => ({
      bucket: entry.bucket,
      key: entry.key,
      sha256:
        entry.key === "index.html"
          ? await indexSha256Of(entry.bucket)
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
