import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from "@aws-sdk/client-s3";
import pLimit from "p-limit";
import { copySource } from "../../aws/copy-source.js";
import { mapAwsError } from "../../aws/errors.js";
import type { ProgressReporter } from "../../core/context.js";
import { DeployError, throwIfAborted } from "../../core/errors.js";
import { HeapBudget } from "../../core/heap-budget.js";
import { quote } from "../../core/quote.js";
import { sleep } from "../../core/sleep.js";
import { approvedStream, checkApproved, checksumSha256Of, readApproved } from "./approved-bytes.js";
import { forEachBounded } from "./bounded.js";
import {
  BUFFERED_BODY_BYTES,
  FRONTEND_UPLOAD_CONCURRENCY,
  LARGE_UPLOADS_IN_FLIGHT,
  phaseSignal,
  UPLOAD_HEAP_BUDGET_BYTES,
} from "./concurrency.js";
import type { BucketDiff, FrontendManifest, ManifestEntry, PlannedUpload, RemoteObject } from "./diff.js";
import { headRemote } from "./diff.js";
import { preserveObject, storeKey } from "./store.js";

/** Where the bytes of a desired file come from: the local build, or the content store (rollback). */
export type ContentSource = { kind: "file"; path: string } | { kind: "store" };

export interface SyncContext {
  s3: S3Client;
  artifactBucket: string;
  isEntryPoint: (key: string) => boolean;
  /** Keys the config names (frontend.entryPoints): the server's words, so a message may name them. */
  namedInConfig: (key: string) => boolean;
  sourceOf: (key: string) => ContentSource;
  desired: FrontendManifest;
  /** Requests in flight (asset uploads, stale-file cleanup); FRONTEND_UPLOAD_CONCURRENCY by default. */
  concurrency?: number;
  signal: AbortSignal;
  progress: ProgressReporter;
  /** Hashes already in the content store during this run. */
  kept: Set<string>;
  /** Entry points read and checked against the plan before the switch: published from memory. */
  verified: ReadonlyMap<string, Buffer>;
}

export interface PhaseStats {
  files: number;
  bytes: number;
}

/** Files above this go through a multipart upload (their ETag is then not an MD5). */
export const SINGLE_PUT_LIMIT = 32 * 1024 * 1024;

/** Longest object key an error's detail quotes. */
const KEY_CHARS = 300;

/**
 * Attempts of a streamed PutObject. The SDK does not retry a request whose body is a stream
 * (it cannot rewind it), so these uploads retry here, each attempt reading the file afresh;
 * as many attempts as the clients' own maxAttempts.
 */
const STREAMED_PUT_ATTEMPTS = 4;

/**
 * Phase 1: every non-entry file to every bucket, with bounded concurrency. Nothing a visitor
 * loads by a fixed name changes here, so a failure leaves the live site as it was.
 */
export async function uploadAssets(sync: SyncContext, diffs: BucketDiff[]): Promise<PhaseStats> {
  const work = diffs.flatMap((diff) =>
    diff.upload.filter((u) => !sync.isEntryPoint(u.key)).map((upload) => ({ bucket: diff.bucket, upload })),
  );
  const tracker = progressTracker(sync, "assets", work);
  const concurrency = sync.concurrency ?? FRONTEND_UPLOAD_CONCURRENCY;
  const phase = phaseSignal(sync.signal, concurrency);
  const inPhase: SyncContext = { ...sync, signal: phase.signal };
  const large = pLimit(LARGE_UPLOADS_IN_FLIGHT);
  const heap = new HeapBudget(UPLOAD_HEAP_BUDGET_BYTES);
  try {
    await forEachBounded(
      work,
      concurrency,
      async (item) => {
        await writeObject(inPhase, item.bucket, item.upload, large);
        tracker.done(item.upload.key);
        heap.check();
      },
      sync.signal,
    );
  } finally {
    phase.done();
  }
  return tracker.stats();
}

/**
 * Before anything live changes: every entry point the release writes from the build is read
 * once and checked against the plan, and published later from these very bytes. A rewritten
 * entry point so stops the release while the previous one still serves untouched. One larger
 * than a single PUT (not a real site's) is only checked here and checked again as it streams.
 */
export async function readEntryPoints(
  sourceOf: (key: string) => ContentSource,
  desired: FrontendManifest,
  keys: Iterable<string>,
  signal: AbortSignal,
): Promise<Map<string, Buffer>> {
  const verified = new Map<string, Buffer>();
  for (const key of new Set(keys)) {
    throwIfAborted(signal);
    const source = sourceOf(key);
    const entry = desired[key] as ManifestEntry;
    if (source.kind !== "file") continue;
    if (entry.size <= SINGLE_PUT_LIMIT) verified.set(key, await readApproved(key, source.path, entry));
    else await checkApproved(key, source.path, entry);
  }
  return verified;
}

/**
 * Phase 2: entry points, after every asset is in place, one at a time: first the others
 * (`which: "others"`: sw.js, the manifest, registerSW.js, other HTML) in every bucket, then
 * (`which: "index"`) `index.html` in every bucket — it is the switch that makes a release live.
 */
export async function publishEntryPoints(
  sync: SyncContext,
  diffs: BucketDiff[],
  which: "others" | "index",
): Promise<PhaseStats> {
  const work = diffs.flatMap((diff) =>
    diff.upload
      .filter((u) => sync.isEntryPoint(u.key) && (u.key === "index.html") === (which === "index"))
      .map((upload) => ({ bucket: diff.bucket, upload })),
  );
  const tracker = progressTracker(sync, "entry points", work);
  for (const item of work) {
    await writeObject(sync, item.bucket, item.upload);
    tracker.done(item.upload.key);
  }
  return tracker.stats();
}

async function writeObject(
  sync: SyncContext,
  bucket: string,
  upload: PlannedUpload,
  large: <T>(run: () => Promise<T>) => Promise<T> = (run) => run(),
): Promise<void> {
  throwIfAborted(sync.signal);
  const entry = sync.desired[upload.key] as ManifestEntry;
  // An entry point's replaced content was kept by the release's snapshot, read under the lock;
  // the plan's hash of it is older and, should the object have changed since, not its content.
  if (
    upload.reason === "changed" &&
    upload.replacedSha256 &&
    upload.replacedSha256 !== entry.sha256 &&
    !sync.isEntryPoint(upload.key)
  ) {
    await preserveObject(
      sync.s3,
      sync.artifactBucket,
      { bucket, key: upload.key, sha256: upload.replacedSha256 },
      sync.kept,
    );
  }
  // An entry may record no header (the site before a first release had none): none is sent.
  const headers = {
    ...(entry.contentType ? { ContentType: entry.contentType } : {}),
    ...(entry.cacheControl ? { CacheControl: entry.cacheControl } : {}),
    Metadata: { sha256: entry.sha256 },
  };
  try {
    if (upload.reason === "headers") {
      // Same bytes, new headers: a server-side copy onto itself rewrites them without re-sending.
      await sync.s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: upload.key,
          CopySource: copySource(bucket, upload.key),
          MetadataDirective: "REPLACE",
          ...headers,
        }),
      );
      return;
    }
    const source = sync.sourceOf(upload.key);
    if (source.kind === "store") {
      await sync.s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: upload.key,
          CopySource: copySource(sync.artifactBucket, storeKey(entry.sha256)),
          MetadataDirective: "REPLACE",
          ...headers,
        }),
      );
      return;
    }
    const input: PutObjectCommandInput = { Bucket: bucket, Key: upload.key, ...headers };
    if (entry.size > SINGLE_PUT_LIMIT) {
      await large(() => putLarge(sync, input, source.path, entry));
      return;
    }
    const verified = sync.verified.get(upload.key);
    if (!verified && entry.size > BUFFERED_BODY_BYTES) {
      await putStreamed(sync, input, source.path, entry);
      return;
    }
    const body = verified ?? (await readApproved(upload.key, source.path, entry));
    await sync.s3.send(new PutObjectCommand({ ...input, ...checkedBody(entry), Body: body }), {
      abortSignal: sync.signal,
    });
  } catch (error) {
    if (error instanceof DeployError) throw error;
    const named = sync.namedInConfig(upload.key);
    const mapped = mapAwsError(
      error,
      upload.reason === "headers" || sync.sourceOf(upload.key).kind === "store"
        ? "s3:CopyObject"
        : "s3:PutObject",
      named ? `s3://${bucket}/${upload.key}` : `bucket ${bucket}`,
    );
    // Any other key is a file name from the repo: data for a field, never words of the message.
    throw new DeployError(mapped.code, mapped.message, {
      cause: mapped.cause ?? error,
      detail: { ...(mapped.detail ?? {}), key: quote(upload.key, KEY_CHARS) },
    });
  }
}

/**
 * What makes S3 take exactly the approved bytes: their length, MD5 and SHA-256, all from the
 * hashing pass. S3 refuses the PUT unless the bytes it receives have the approved SHA-256 (the
 * algorithm header makes it keep that checksum on the object, where a read-back sees it).
 */
function checkedBody(entry: ManifestEntry): Partial<PutObjectCommandInput> {
  return {
    ContentLength: entry.size,
    ContentMD5: Buffer.from(entry.md5, "hex").toString("base64"),
    ChecksumAlgorithm: "SHA256",
    ChecksumSHA256: checksumSha256Of(entry),
  };
}

/**
 * A file above BUFFERED_BODY_BYTES as one PutObject whose body streams from disk through the
 * approved-bytes hash (approvedStream), so memory does not grow with the file or with the
 * number in flight. Two checks hold it to the approval: S3 refuses bytes whose SHA-256 is not
 * the approved one (ChecksumSHA256), and the stream fails — and the request is aborted before
 * it ends — when the file is longer, shorter or other than approved. The SDK cannot retry a
 * stream, so failed attempts that a retry can fix are sent again here, from a fresh read.
 */
async function putStreamed(
  sync: SyncContext,
  input: PutObjectCommandInput,
  path: string,
  entry: ManifestEntry,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(sync.signal);
    const body = approvedStream(input.Key as string, path, entry);
    const request = new AbortController();
    const abort = () => request.abort();
    sync.signal.addEventListener("abort", abort, { once: true });
    let bodyError: unknown = null;
    // Also what keeps a read error from going unhandled: the SDK pipes the body without listening.
    body.once("error", (error) => {
      bodyError = error;
      request.abort();
    });
    try {
      await sync.s3.send(new PutObjectCommand({ ...input, ...checkedBody(entry), Body: body }), {
        abortSignal: request.signal,
      });
      return;
    } catch (error) {
      if (bodyError) throw bodyError;
      if (sync.signal.aborted || attempt >= STREAMED_PUT_ATTEMPTS || !isRetryable(error)) throw error;
    } finally {
      sync.signal.removeEventListener("abort", abort);
      body.destroy();
    }
    await backoff(attempt, sync.signal);
  }
}

const RETRYABLE_NAMES = new Set([
  "InternalError",
  "ServiceUnavailable",
  "SlowDown",
  "RequestTimeout",
  "RequestTimeoutException",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "TimeoutError",
]);
const RETRYABLE_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT"]);

/** What the SDK itself would retry: throttling, 5xx, timeouts and broken connections. */
function isRetryable(error: unknown): boolean {
  if (error instanceof DeployError) return false;
  const e = error as {
    name?: string;
    code?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  if (e.name === "AbortError") return false;
  const status = e.$metadata?.httpStatusCode;
  return (
    Boolean(e.$retryable) ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    RETRYABLE_NAMES.has(e.name ?? "") ||
    RETRYABLE_CODES.has(e.code ?? "")
  );
}

/** 100 ms, 200 ms, 400 ms … (with jitter), cut short by a cancellation. */
async function backoff(attempt: number, signal: AbortSignal): Promise<void> {
  const ms = Math.min(2_000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
  await sleep(ms, signal);
  throwIfAborted(signal);
}

/**
 * A large file as a multipart upload, streamed through a hash of the approved content. S3 has
 * no full-object SHA-256 for multipart uploads (a FULL_OBJECT checksum exists only for the CRC
 * algorithms), so ChecksumAlgorithm SHA256 makes each part carry its own SHA-256 — S3 refuses
 * a part whose bytes arrive different — and the object keeps the composite of those. What binds
 * the whole to the approval is our own hash of the very bytes read for the parts: the stream
 * fails at its end on any other content, before lib-storage can send CompleteMultipartUpload,
 * and lib-storage then aborts the upload, so other bytes never become an object.
 */
async function putLarge(
  sync: SyncContext,
  input: PutObjectCommandInput,
  path: string,
  entry: ManifestEntry,
): Promise<void> {
  const { Upload } = await import("@aws-sdk/lib-storage");
  const body = approvedStream(input.Key as string, path, entry);
  try {
    await new Upload({
      client: sync.s3,
      params: { ...input, Body: body, ChecksumAlgorithm: "SHA256" },
      abortController: abortControllerFor(sync.signal),
    }).done();
  } finally {
    // A failed upload stops reading mid-file: close the file now rather than at garbage collection.
    body.destroy();
  }
}

function abortControllerFor(signal: AbortSignal): AbortController {
  const controller = new AbortController();
  if (signal.aborted) controller.abort();
  else signal.addEventListener("abort", () => controller.abort(), { once: true });
  return controller;
}

/**
 * Deletes stale objects, each kept in the content store first when its content is known (our
 * uploads carry `sha256` metadata), so a rollback to the release that used them still works.
 */
export async function deleteStale(
  sync: SyncContext,
  bucket: string,
  objects: RemoteObject[],
  knownSha256: (object: RemoteObject) => string | null,
): Promise<number> {
  await forEachBounded(
    objects,
    sync.concurrency ?? FRONTEND_UPLOAD_CONCURRENCY,
    async (object) => {
      const sha256 = knownSha256(object) ?? (await headRemote(sync.s3, bucket, object.key))?.sha256 ?? null;
      if (sha256)
        await preserveObject(sync.s3, sync.artifactBucket, { bucket, key: object.key, sha256 }, sync.kept);
    },
    sync.signal,
  );
  let deleted = 0;
  for (let start = 0; start < objects.length; start += 1000) {
    const batch = objects.slice(start, start + 1000);
    try {
      const out = await sync.s3.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map((object) => ({ Key: object.key })), Quiet: true },
        }),
      );
      if (out.Errors?.length) {
        const first = out.Errors[0];
        throw new Error(`${out.Errors.length} object(s) not deleted, e.g. ${first?.Key}: ${first?.Code}`);
      }
      deleted += batch.length;
    } catch (error) {
      throw mapAwsError(error, "s3:DeleteObjects", `bucket ${bucket}`);
    }
  }
  return deleted;
}

function progressTracker(
  sync: SyncContext,
  phase: string,
  work: Array<{ upload: PlannedUpload }>,
): { done(key: string): void; stats(): PhaseStats } {
  const totalFiles = work.length;
  const totalBytes = work.reduce((sum, item) => sum + (sync.desired[item.upload.key]?.size ?? 0), 0);
  let files = 0;
  let bytes = 0;
  let lastReport = 0;
  return {
    done(key) {
      files++;
      bytes += sync.desired[key]?.size ?? 0;
      const now = Date.now();
      // A progress note per file would flood the client on a 2,000-file first deploy.
      if (now - lastReport < 250 && files !== totalFiles) return;
      lastReport = now;
      sync.progress(
        `Uploading ${phase}: ${files}/${totalFiles} files, ${formatBytes(bytes)}/${formatBytes(totalBytes)}`,
        bytes,
        totalBytes,
      );
    },
    stats: () => ({ files, bytes }),
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
