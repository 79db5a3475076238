import { createHash, randomUUID } from "node:crypto";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { copySource } from "../../aws/copy-source.js";
import { mapAwsError } from "../../aws/errors.js";
import { DeployError } from "../../core/errors.js";
import { PART_CONCURRENCY } from "./artifact.js";
import type { ZipObserver, ZipResult } from "./zip-writer.js";

/**
 * A large package goes up while it is being zipped. Over a real uplink the upload, not the
 * zip, is what takes time (35 MB of backend zips to ~20 MB: ~1 s of deflate on 2 cores, ~4 s
 * at 40 Mbit/s); written first and sent after, the two add up, followed as they are written,
 * they overlap.
 *
 * The zip's SHA-256 (its content address, the key it is stored under) is only known once it
 * is finished, so it goes to a staging key first. The release deploys from that key and, beside
 * the switch, copies it to `<prefix><sha256>.zip` (a server-side copy, no bytes sent again);
 * the release only ends once the content address holds it (release.ts, keep-artifact).
 *
 * Safety, the same bindings as the upload from the finished file (artifact.ts):
 * - the bytes sent are read back from the file as the writer flushes them and hashed as they
 *   go; the stream fails — and lib-storage aborts the multipart upload, so no staging object
 *   exists — unless their length and SHA-256 are exactly those the writer computed, which are
 *   the package's (the plan's) own;
 * - every part carries its SHA-256, which S3 checks on arrival;
 * - Lambda takes the staging object only once its upload completed with exactly those bytes,
 *   and the code it then holds must have the plan's CodeSha256 before a version is published
 *   (updateCodeFromS3, as for the content address, which is no less writable);
 * - the copy names the staging object by the ETag its upload returned (CopySourceIfMatch), so
 *   no other object can be copied into the content address, and S3's SHA-256 of the copy must
 *   be the plan's.
 *
 * Only for calls that will deploy (not a dry run, not a protected env without its token),
 * and only above STAGE_ABOVE_UNZIPPED_BYTES: for a small package the copy and the delete cost
 * more round trips than the overlap saves. The staging object is deleted when the call ends; a process killed mid-upload leaves an incomplete multipart upload (or a
 * staging object) under `<prefix>staging/`, which never goes live, and which the next call that
 * stages reclaims once it is STALE_STAGING_MS old (sweepStaging).
 */
export const STAGE_ABOVE_UNZIPPED_BYTES = 16 * 1024 * 1024;

/** Parts of a staged upload: S3's minimum, so sending starts as soon as 5 MiB are zipped. */
export const STAGED_PART_BYTES = 5 * 1024 * 1024;

/** Bytes read from the growing file at a time. */
const READ_BYTES = 1024 * 1024;

export interface StagedObject {
  etag: string;
  sha256Hex: string;
  bytes: number;
}

export interface StagedUpload {
  readonly bucket: string;
  readonly key: string;
  /** Give it to the zip writer: it drives the upload. */
  readonly observer: ZipObserver;
  /** The staged object once its upload completed; rejects if the upload failed. */
  readonly done: Promise<StagedObject>;
  /** Stops the upload if it still runs and deletes the staging object. Never throws. */
  discard(): Promise<void>;
}

export function stagingKeyFor(prefix: string): string {
  return `${stagingPrefixOf(prefix)}${randomUUID()}.zip`;
}

/** The zip as the writer flushes it: its chunks, in order, ending once the writer finished. */
class FollowedZip {
  private available = 0;
  private result: ZipResult | null = null;
  private error: Error | null = null;
  private wake: (() => void) | null = null;
  private settle: { resolve(result: ZipResult): void; reject(error: Error): void } | null = null;
  /** The writer's result: the whole zip's length and SHA-256. */
  readonly whole = new Promise<ZipResult>((resolve, reject) => {
    this.settle = { resolve, reject };
  });

  readonly observer: ZipObserver = {
    written: (bytes) => {
      this.available = bytes;
      this.poke();
    },
    finished: (result) => {
      this.result = result;
      this.available = result.bytes;
      this.settle?.resolve(result);
      this.poke();
    },
    failed: (error) => {
      this.error = error;
      this.settle?.reject(error);
      this.poke();
    },
  };

  constructor() {
    this.whole.catch(() => {});
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resolves at the writer's next event. Set up synchronously after a check: no event is missed. */
  private next(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  async *chunks(file: string): AsyncGenerator<Buffer> {
    while (this.available === 0 && !this.result && !this.error) await this.next();
    if (this.error) throw this.error;
    const handle = await open(file, "r");
    const hash = createHash("sha256");
    let offset = 0;
    try {
      for (;;) {
        if (this.error) throw this.error;
        if (offset < this.available) {
          const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, this.available - offset));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          if (bytesRead === 0) throw new Error("the zip on disk is shorter than the writer wrote");
          const chunk = buffer.subarray(0, bytesRead);
          hash.update(chunk);
          offset += bytesRead;
          yield chunk;
          continue;
        }
        if (this.result) {
          if (offset !== this.result.bytes || !hash.digest().equals(this.result.sha256))
            throw new Error("the bytes read back from the zip are not those the writer wrote and hashed");
          return;
        }
        await this.next();
      }
    } finally {
      await handle.close();
    }
  }
}

export function startStagedUpload(options: {
  s3: S3Client;
  bucket: string;
  prefix: string;
  file: string;
}): StagedUpload {
  const { s3, bucket } = options;
  const key = stagingKeyFor(options.prefix);
  const followed = new FollowedZip();
  const upload = new Upload({
    client: s3,
    params: {
      Bucket: bucket,
      Key: key,
      Body: Readable.from(followed.chunks(options.file)),
      ContentType: "application/zip",
      ChecksumAlgorithm: "SHA256",
    },
    queueSize: PART_CONCURRENCY,
    // S3's smallest part: the first one is ready, and the uplink busy, soonest.
    partSize: STAGED_PART_BYTES,
    leavePartsOnError: false,
  });
  const done = upload.done().then(async (out) => {
    const whole = await followed.whole;
    if (!out.ETag) throw new Error("the staged upload's answer carries no ETag");
    return { etag: out.ETag, sha256Hex: whole.sha256.toString("hex"), bytes: whole.bytes };
  });
  // Awaited later (or never, when the call stops first): a failure is not an unhandled rejection.
  done.catch(() => {});
  let discarded: Promise<void> | null = null;
  return {
    bucket,
    key,
    observer: followed.observer,
    done,
    discard() {
      discarded ??= (async () => {
        await upload.abort().catch(() => {});
        await done.catch(() => {});
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => {});
      })();
      return discarded;
    },
  };
}

/**
 * The staged object, once its upload completed, if it is exactly the planned package: its own
 * SHA-256 and length (those of the bytes sent) must be the plan's. Null when the staged upload
 * failed or holds other bytes — the staging object is then gone and the caller uploads from
 * the file instead. A cancelled call stops the upload at once.
 */
export async function stagedPackage(options: {
  staged: StagedUpload;
  sha256Hex: string;
  bytes: number;
  signal?: AbortSignal | undefined;
}): Promise<StagedObject | null> {
  const { staged, signal } = options;
  const stop = () => void staged.discard();
  signal?.addEventListener("abort", stop, { once: true });
  let object: StagedObject;
  try {
    object = await staged.done;
  } catch {
    await staged.discard();
    return null;
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  if (object.sha256Hex !== options.sha256Hex || object.bytes !== options.bytes) {
    await staged.discard();
    return null;
  }
  return object;
}

/**
 * Copies the staged zip to its content address, for exactly the planned package: the copy
 * takes the staged object only (by its ETag), and S3's whole-object SHA-256 of the copy must
 * be the plan's, or the copy is deleted and this throws. The staging object is left in place:
 * Lambda may still be reading it; the call's dispose deletes it.
 */
export async function copyStagedToArtifact(options: {
  s3: S3Client;
  staged: StagedUpload;
  object: StagedObject;
  key: string;
  signal?: AbortSignal | undefined;
}): Promise<void> {
  const { s3, staged, object, signal } = options;
  const planned = Buffer.from(object.sha256Hex, "hex").toString("base64");
  let copied: string | undefined;
  try {
    const out = await s3.send(
      new CopyObjectCommand({
        Bucket: staged.bucket,
        Key: options.key,
        CopySource: copySource(staged.bucket, staged.key),
        CopySourceIfMatch: object.etag,
        MetadataDirective: "REPLACE",
        ContentType: "application/zip",
        Metadata: { sha256: object.sha256Hex },
        // The copy gets a whole-object SHA-256 of its own (the staged multipart object has only
        // a composite of its parts'), computed by S3 from the bytes it copied: it must be the plan's.
        ChecksumAlgorithm: "SHA256",
      }),
      { abortSignal: signal },
    );
    copied = out.CopyObjectResult?.ChecksumSHA256;
  } catch (error) {
    throw mapAwsError(error, "s3:CopyObject", `s3://${staged.bucket}/${options.key}`);
  }
  if (copied !== planned) {
    await s3.send(new DeleteObjectCommand({ Bucket: staged.bucket, Key: options.key })).catch(() => {});
    throw new DeployError(
      "PRECONDITION",
      `The artifact copied to s3://${staged.bucket}/${options.key} does not have the planned SHA-256 (S3 computed ${copied ?? "none"}); it was deleted.`,
    );
  }
}

/** Staged uploads and objects this old were left by a process that died: no call stages for so long. */
export const STALE_STAGING_MS = 60 * 60 * 1000;

export function stagingPrefixOf(prefix: string): string {
  return `${prefix}staging/`;
}

/**
 * Reclaims what killed processes left under `<prefix>staging/`: multipart uploads begun and
 * objects written more than `olderThanMs` before `now`, except `keep` (this call's own). One
 * page of each per call; what is left waits for the next. Best effort: a failure is returned,
 * never thrown — nothing of a release depends on it.
 */
export async function sweepStaging(options: {
  s3: S3Client;
  bucket: string;
  prefix: string;
  now: Date;
  keep?: string | undefined;
  olderThanMs?: number;
}): Promise<{ aborted: number; deleted: number; error?: string }> {
  const { s3, bucket } = options;
  const stagingPrefix = stagingPrefixOf(options.prefix);
  const cutoff = options.now.getTime() - (options.olderThanMs ?? STALE_STAGING_MS);
  const stale = (at: Date | undefined, key: string | undefined) =>
    Boolean(key?.startsWith(stagingPrefix)) &&
    key !== options.keep &&
    at !== undefined &&
    at.getTime() < cutoff;
  try {
    const [uploads, objects] = await Promise.all([
      s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: stagingPrefix })),
      s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: stagingPrefix })),
    ]);
    const abandoned = (uploads.Uploads ?? []).filter((u) => stale(u.Initiated, u.Key));
    const leftOver = (objects.Contents ?? []).filter((o) => stale(o.LastModified, o.Key));
    const outcomes = await Promise.allSettled([
      ...abandoned.map((u) =>
        s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })),
      ),
      ...leftOver.map((o) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }))),
    ]);
    const failed = outcomes.find((o) => o.status === "rejected");
    return {
      aborted: outcomes.slice(0, abandoned.length).filter((o) => o.status === "fulfilled").length,
      deleted: outcomes.slice(abandoned.length).filter((o) => o.status === "fulfilled").length,
      ...(failed ? { error: String((failed as PromiseRejectedResult).reason?.name ?? "Error") } : {}),
    };
  } catch (error) {
    return { aborted: 0, deleted: 0, error: String((error as Error)?.name ?? "Error") };
  }
}
