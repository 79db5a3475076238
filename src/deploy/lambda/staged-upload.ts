import { createHash, type Hash, randomUUID } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
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
 * the release only ends once the content address holds it (placement.ts, kept while the
 * health gate runs).
 *
 * The upload is created at once, and each 5 MiB part is sent while its bytes are still being
 * zipped: its request starts as soon as the part's length is known (its bytes are on disk, or
 * the compression so far says the zip reaches well past it) and its body follows the file as
 * the writer flushes it (an aws-chunked body with a trailing SHA-256). The uplink is then busy
 * from the zip's first bytes, not from its first 5 MiB.
 *
 * Safety, the same bindings as the upload from the finished file (artifact.ts):
 * - each part's bytes are read back from the file and hashed as they go; the part counts only
 *   if that hash is the one the writer computed for the same range as it wrote it, and S3's
 *   own SHA-256 of what it received (the trailing checksum it checks) is the same again;
 * - the writer's whole-file SHA-256 is the package's (the plan's), and the staged object's
 *   length and SHA-256 must be the plan's before anything deploys from it (stagedPackage);
 * - a failed upload is aborted: no staging object exists;
 * - Lambda takes the staging object only once its upload completed with exactly those bytes,
 *   and the code it then holds must have the plan's CodeSha256 before a version is published
 *   (updateCodeFromS3, as for the content address, which is no less writable);
 * - the copy names the staging object by the ETag its upload returned (CopySourceIfMatch), so
 *   no other object can be copied into the content address, and S3's SHA-256 of the copy must
 *   be the plan's.
 *
 * Only for calls that will deploy (not a dry run, not a protected env without its token),
 * and only above STAGE_ABOVE_UNZIPPED_BYTES: for a small package the copy and the delete cost
 * more round trips than the overlap saves. The staging object is deleted once the release no
 * longer needs it; a process killed mid-upload leaves an incomplete multipart upload (or a
 * staging object) under `<prefix>staging/`, which never goes live, and which the next call that
 * stages reclaims once it is STALE_STAGING_MS old (sweepStaging).
 */
export const STAGE_ABOVE_UNZIPPED_BYTES = 16 * 1024 * 1024;

/** Parts of a staged upload: S3's minimum, so the parts in flight cover the zip soonest. */
export const STAGED_PART_BYTES = 5 * 1024 * 1024;

/** Bytes read from the growing file at a time. */
const READ_BYTES = 1024 * 1024;

/** Tries per part: each one reads its range from the file again. */
const PART_ATTEMPTS = 3;

/**
 * A part is sent before its bytes are all written only when the zip is expected to reach past
 * its end by this factor (from the compression so far): a part sent as a whole 5 MiB that
 * turns out to be the last, shorter one is sent again with its real length.
 */
const EARLY_MARGIN = 1.25;

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
  /** Settles once S3 answered the upload's creation (either way); never rejects. */
  readonly created: Promise<void>;
  /** Stops the upload if it still runs and deletes the staging object. Never throws. */
  discard(): Promise<void>;
}

export function stagingKeyFor(prefix: string): string {
  return `${stagingPrefixOf(prefix)}${randomUUID()}.zip`;
}

/** A part was sent as a whole STAGED_PART_BYTES and the zip ended inside it. */
class ShortPart extends Error {}

/** The zip as the writer flushes it: how far it is on disk, its range hashes, its end. */
class FollowedZip {
  available = 0;
  inputBytes = 0;
  result: ZipResult | null = null;
  error: Error | null = null;
  readonly rangeHashes: Buffer[] = [];
  private waiters: Array<() => void> = [];
  /** The writer's result: the whole zip's length and SHA-256. */
  readonly whole: Promise<ZipResult>;
  private settle!: { resolve(result: ZipResult): void; reject(error: Error): void };

  readonly observer: ZipObserver = {
    rangeBytes: STAGED_PART_BYTES,
    rangeHashed: (index, sha256) => {
      this.rangeHashes[index] = sha256;
    },
    written: (bytes, inputBytes) => {
      this.available = bytes;
      this.inputBytes = inputBytes;
      this.poke();
    },
    finished: (result) => {
      this.result = result;
      this.available = result.bytes;
      this.settle.resolve(result);
      this.poke();
    },
    failed: (error) => {
      this.error = error;
      this.settle.reject(error);
      this.poke();
    },
  };

  constructor(private readonly unzippedBytes: number) {
    this.whole = new Promise<ZipResult>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.whole.catch(() => {});
  }

  private poke(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves at the writer's next event (or when `signal` aborts). Set up synchronously after a check. */
  next(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const wake = () => {
        signal.removeEventListener("abort", wake);
        resolve();
      };
      this.waiters.push(wake);
      signal.addEventListener("abort", wake, { once: true });
    });
  }

  /** The zip's final length as the compression so far predicts it. */
  private estimatedBytes(): number {
    if (this.inputBytes === 0) return 0;
    return this.available + (this.unzippedBytes - this.inputBytes) * (this.available / this.inputBytes);
  }

  /**
   * The length of the part starting at `offset`, as soon as it can be told: the whole part
   * once its bytes are on disk or the zip is expected to reach well past it, the rest of the
   * zip once it finished; 0 when the zip ended before `offset`.
   */
  async partLength(offset: number, signal: AbortSignal): Promise<number> {
    for (;;) {
      if (this.error) throw this.error;
      if (signal.aborted) throw new Error("the staged upload was stopped");
      if (this.result) return Math.max(0, Math.min(STAGED_PART_BYTES, this.result.bytes - offset));
      const end = offset + STAGED_PART_BYTES;
      if (this.available >= end) return STAGED_PART_BYTES;
      if (this.available > offset && this.estimatedBytes() >= end * EARLY_MARGIN) return STAGED_PART_BYTES;
      await this.next(signal);
    }
  }

  /**
   * The file's bytes [offset, offset + length) as they reach the disk, hashed into `hash`.
   * It never throws into the request it feeds (a piped body's error would be nobody's): on a
   * failure — the zip ending before `offset + length`, a failed read, the writer failing — it
   * calls `endTry`, which aborts the request, and ends; sendPart tells which from the state.
   */
  async *range(
    file: string,
    offset: number,
    length: number,
    hash: Hash,
    signal: AbortSignal,
    endTry: () => void,
  ): AsyncGenerator<Buffer> {
    const end = offset + length;
    let handle: FileHandle | null = null;
    try {
      handle = await open(file, "r");
      let at = offset;
      while (at < end && !signal.aborted) {
        if (this.error) return endTry();
        if (at < this.available) {
          const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, this.available - at, end - at));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
          if (bytesRead === 0) return endTry();
          const chunk = buffer.subarray(0, bytesRead);
          hash.update(chunk);
          at += bytesRead;
          yield chunk;
          continue;
        }
        if (this.result) return endTry();
        await this.next(signal);
      }
    } catch {
      endTry();
    } finally {
      await handle?.close();
    }
  }
}

/**
 * A part's body is read once, as the zip grows. The SDK does not retry a streaming body (it
 * throws after the first failure); this keeps it so whatever the SDK's version: inside the
 * retry step every failure of a try becomes a plain error (no status, code or cause) that no
 * retry rule matches, and sendPart tries again with the range read anew from the file.
 */
class PartTryFailed extends Error {
  constructor(readonly original: unknown) {
    super(`${(original as Error)?.name ?? "Error"}: ${(original as Error)?.message ?? String(original)}`);
    this.name = "PartTryFailed";
  }
}

interface SentPart {
  PartNumber: number;
  ETag: string;
  ChecksumSHA256: string;
}

export function startStagedUpload(options: {
  s3: S3Client;
  bucket: string;
  prefix: string;
  file: string;
  /** The package's uncompressed size: with the compression so far, it predicts the zip's. */
  unzippedBytes: number;
}): StagedUpload {
  const { s3, bucket, file } = options;
  const key = stagingKeyFor(options.prefix);
  const followed = new FollowedZip(options.unzippedBytes);
  const stop = new AbortController();
  // Created at once: the first part then goes out with the zip's first bytes, not after them.
  const created = s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: "application/zip",
      ChecksumAlgorithm: "SHA256",
    }),
    { abortSignal: stop.signal },
  );
  created.catch(() => {});

  /**
   * One part, streamed from the file as it is written, with a trailing SHA-256 that S3 checks;
   * its bytes must hash to what the writer wrote for that range, and S3's checksum of what it
   * received must be the same. Tried again from the file when a try fails.
   */
  const sendPart = async (uploadId: string, number: number, offset: number, length: number) => {
    let lastError: unknown;
    for (let attempt = 1; attempt <= PART_ATTEMPTS; attempt++) {
      const hash = createHash("sha256");
      // A body that fails (the zip ended inside the part, a read failed) ends its request at
      // once: a piped body's error alone would leave the request waiting for bytes.
      const thisTry = new AbortController();
      const stopTry = () => thisTry.abort();
      stop.signal.addEventListener("abort", stopTry, { once: true });
      const body = Readable.from(followed.range(file, offset, length, hash, thisTry.signal, stopTry));
      try {
        const command = new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: number,
          Body: body,
          ContentLength: length,
          ChecksumAlgorithm: "SHA256",
        });
        command.middlewareStack.add(
          (next) => async (args) => {
            // The part's bytes go out with its headers: waiting for "100 Continue" first costs
            // a round trip per part, to save sending 5 MiB to an upload this call just created.
            const request = args.request as { headers?: Record<string, string> };
            if (request.headers) delete request.headers.Expect;
            try {
              return await next(args);
            } catch (error) {
              throw new PartTryFailed(error);
            }
          },
          { step: "finalizeRequest", priority: "low", name: "stagedPartTry" },
        );
        const out = await s3.send(command, { abortSignal: thisTry.signal });
        const sent = hash.digest();
        const written = followed.rangeHashes[number - 1];
        if (!written?.equals(sent))
          throw new Error(`part ${number}: the bytes read back are not those the writer wrote`);
        if (out.ChecksumSHA256 !== sent.toString("base64") || !out.ETag)
          throw new Error(`part ${number}: S3's checksum of the part is not that of the bytes sent`);
        return { PartNumber: number, ETag: out.ETag, ChecksumSHA256: out.ChecksumSHA256 };
      } catch (error) {
        if (stop.signal.aborted || followed.error) throw followed.error ?? error;
        const result = followed.result;
        if (result && result.bytes < offset + length) throw new ShortPart("the zip ended inside this part");
        lastError = error;
      } finally {
        stop.signal.removeEventListener("abort", stopTry);
        body.destroy();
      }
    }
    throw lastError;
  };

  /** Every part, PART_CONCURRENCY in flight, each started as soon as its length is known. */
  const sendParts = async (uploadId: string): Promise<SentPart[]> => {
    const parts: SentPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown = null;
    const track = (sending: Promise<void>) => {
      const tracked = sending.catch((error: unknown) => {
        failure ??= error;
        stop.abort();
      });
      inFlight.add(tracked);
      void tracked.finally(() => inFlight.delete(tracked));
    };
    for (let number = 1; failure === null; number++) {
      const offset = (number - 1) * STAGED_PART_BYTES;
      const length = await followed.partLength(offset, stop.signal);
      if (length === 0) break;
      while (inFlight.size >= PART_CONCURRENCY && failure === null) await Promise.race(inFlight);
      if (failure !== null) break;
      track(
        sendPart(uploadId, number, offset, length).then(
          (part) => {
            parts[number - 1] = part;
          },
          async (error: unknown) => {
            if (!(error instanceof ShortPart)) throw error;
            // The zip ended inside a part sent whole: it is the last part, with its real length.
            const whole = await followed.whole;
            parts[number - 1] = await sendPart(uploadId, number, offset, whole.bytes - offset);
          },
        ),
      );
      if (length < STAGED_PART_BYTES) break;
    }
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure !== null) throw failure;
    return parts;
  };

  const done = (async (): Promise<StagedObject> => {
    const { UploadId } = await created;
    if (!UploadId) throw new Error("CreateMultipartUpload answered without an UploadId");
    try {
      const parts = await sendParts(UploadId);
      const whole = await followed.whole;
      const out = await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
        { abortSignal: stop.signal },
      );
      if (!out.ETag) throw new Error("the staged upload's answer carries no ETag");
      return { etag: out.ETag, sha256Hex: whole.sha256.toString("hex"), bytes: whole.bytes };
    } catch (error) {
      // Nothing incomplete is left behind on a failure this process sees.
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => {});
      throw error;
    }
  })();
  // Awaited later (or never, when the call stops first): a failure is not an unhandled rejection.
  done.catch(() => {});
  let discarded: Promise<void> | null = null;
  return {
    bucket,
    key,
    observer: followed.observer,
    done,
    created: created.then(
      () => {},
      () => {},
    ),
    discard() {
      discarded ??= (async () => {
        stop.abort();
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
