import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { pipeline, type Readable, Transform } from "node:stream";
import { GetFunctionCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { hasEndpointOverride } from "../../aws/clients.js";
import { isAwsErrorNamed, mapAwsError } from "../../aws/errors.js";
import { CancelledError, DeployError } from "../../core/errors.js";
import { quote } from "../../core/quote.js";
import type { CodeDownloader } from "./deps.js";
import { codeSha256ToHex, ensurePackageFile, formatBytes } from "./package.js";

/**
 * Lambda zips live content-addressed in the artifact bucket: <prefix><sha256-hex>.zip. The
 * key alone says which code it holds, so an existing object is never uploaded again and the
 * previous code of any release can be found from its CodeSha256.
 */
export function artifactKeyFor(prefix: string, sha256Hex: string): string {
  return `${prefix}${sha256Hex}.zip`;
}

export function artifactKeyForCodeSha256(prefix: string, codeSha256: string): string {
  return artifactKeyFor(prefix, codeSha256ToHex(codeSha256));
}

export async function artifactExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (isAwsErrorNamed(error, "NotFound", "NoSuchKey")) return false;
    throw mapAwsError(error, "s3:HeadObject", `s3://${bucket}/${key}`);
  }
}

export interface UploadArtifactOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  file: string;
  bytes: number;
  sha256Hex: string;
  signal?: AbortSignal | undefined;
  onProgress?: ((message: string, done?: number, total?: number) => void) | undefined;
}

/**
 * Zips up to this size go up in one PutObject whose ChecksumSHA256 is the planned hash, so S3
 * itself refuses any other bytes; larger ones as a multipart upload with parts in parallel
 * (one TCP stream's throughput is bounded by its window over the round trip; several parts
 * at once are not). 16 MiB: at 100 ms round trips a part costs about what its round trip
 * does, and the VyapaarAI zip (~37 MB) goes in one round of parts.
 */
export const MULTIPART_ABOVE_BYTES = 16 * 1024 * 1024;
/** Part size of the multipart upload (S3's minimum is 5 MiB). */
export const PART_BYTES = 8 * 1024 * 1024;
/**
 * Parts in flight. lib-storage holds each part in memory while it is sent, so this times
 * PART_BYTES (40 MiB) bounds the upload's memory whatever the zip's size.
 */
export const PART_CONCURRENCY = 5;

/**
 * Uploads the planned zip: the file at `file` must hash to `sha256Hex` (a package the hash
 * cache answered is written from the backend first, see ensurePackageFile). Up to
 * MULTIPART_ABOVE_BYTES one PutObject checked by S3 against the planned SHA-256; above it, a
 * multipart upload with PART_CONCURRENCY parts in flight, streamed through our own hash of
 * the whole file.
 */
export async function uploadArtifact(options: UploadArtifactOptions): Promise<void> {
  const { bucket, key, signal } = options;
  try {
    await ensurePackageFile(options.file, signal);
  } catch (error) {
    if (signal?.aborted)
      throw new CancelledError("Cancelled while writing the package; the function was not changed.");
    throw error;
  }
  if (options.bytes <= MULTIPART_ABOVE_BYTES) return putWhole(options);
  const upload = new Upload({
    client: options.s3,
    params: {
      Bucket: bucket,
      Key: key,
      Body: verifiedZipStream(options.file, options.sha256Hex, options.bytes),
      ContentType: "application/zip",
      // Per-part SHA-256 that S3 checks; the whole file is checked against the plan's hash by
      // the stream itself (S3 keeps no whole-object SHA-256 for a multipart upload).
      ChecksumAlgorithm: "SHA256",
      ContentLength: options.bytes,
      Metadata: { sha256: options.sha256Hex },
    },
    queueSize: PART_CONCURRENCY,
    partSize: PART_BYTES,
    leavePartsOnError: false,
  });
  upload.on("httpUploadProgress", (progress) => {
    const loaded = progress.loaded ?? 0;
    options.onProgress?.(
      `Uploading s3://${bucket}/${key}: ${formatBytes(loaded)} of ${formatBytes(options.bytes)}`,
      loaded,
      options.bytes,
    );
  });
  const abort = () => void upload.abort();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    await upload.done();
  } catch (error) {
    if (signal?.aborted)
      throw new CancelledError("Cancelled during the artifact upload; the function was not changed.");
    if (error instanceof DeployError) throw error;
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

/**
 * One PutObject of the whole zip, read once and checked against the plan before it is sent;
 * S3 checks the same SHA-256 on arrival. A Buffer body (not a stream) so the SDK's retries
 * can send it again.
 */
async function putWhole(options: UploadArtifactOptions): Promise<void> {
  const { s3, bucket, key, signal } = options;
  const body = await readFile(options.file);
  if (body.length !== options.bytes || sha256Hex(body) !== options.sha256Hex) throw zipChanged();
  options.onProgress?.(`Uploading s3://${bucket}/${key}: ${formatBytes(options.bytes)}`, 0, options.bytes);
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: "application/zip",
        // Safety: S3 refuses the PUT unless the bytes it receives have the planned SHA-256.
        ChecksumAlgorithm: "SHA256",
        ChecksumSHA256: Buffer.from(options.sha256Hex, "hex").toString("base64"),
        Metadata: { sha256: options.sha256Hex },
      }),
      signal ? { abortSignal: signal } : {},
    );
  } catch (error) {
    if (signal?.aborted)
      throw new CancelledError("Cancelled during the artifact upload; the function was not changed.");
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  }
  options.onProgress?.(
    `Uploaded s3://${bucket}/${key}: ${formatBytes(options.bytes)}`,
    options.bytes,
    options.bytes,
  );
}

function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function zipChanged(): DeployError {
  return new DeployError(
    "PRECONDITION",
    "The Lambda package changed on disk after it was built and planned: its bytes no longer match the planned SHA-256, so the upload was stopped and the function was not changed. Plan again.",
  );
}

/**
 * Lambda takes a zip of at most 50 MB directly and 250 MB unzipped from S3; the VyapaarAI zip is
 * ~37 MB. A download above this bound is refused rather than held in memory.
 */
export const MAX_CODE_DOWNLOAD_BYTES = 80 * 1024 * 1024;
const CODE_DOWNLOAD_TIMEOUT_MS = 120_000;

/**
 * The default CodeDownloader: GET on the presigned HTTPS URL Lambda returned, bounded in time
 * and size. Safety: only https (a presigned S3 URL on real AWS); the bytes are checked against
 * the live CodeSha256 by the caller before they are kept.
 */
export async function downloadCodeOverHttps(
  url: string,
  signal: AbortSignal,
  options: { maxBytes?: number; timeoutMs?: number; fetchImpl?: typeof fetch } = {},
): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? MAX_CODE_DOWNLOAD_BYTES;
  if (new URL(url).protocol !== "https:") throw new Error("the code location is not an https URL");
  const response = await (options.fetchImpl ?? fetch)(url, {
    signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs ?? CODE_DOWNLOAD_TIMEOUT_MS)]),
  });
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`the code is ${formatBytes(declared)}, above the ${formatBytes(maxBytes)} bound`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > maxBytes) {
        await response.body.cancel().catch(() => {});
        throw new Error(`the code is larger than the ${formatBytes(maxBytes)} bound`);
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

/** Where GetFunction offers the code of $LATEST for download (null: it offers none). */
export async function codeLocationOf(lambda: LambdaClient, functionName: string): Promise<string | null> {
  try {
    const out = await lambda.send(new GetFunctionCommand({ FunctionName: functionName }));
    return out.Code?.Location || null;
  } catch (error) {
    throw mapAwsError(error, "lambda:GetFunction", functionName);
  }
}

export type SavePreviousCodeResult = { saved: true } | { saved: false; reason: string };

/**
 * Keeps the code live now restorable by artifact ($LATEST mode has no version to point back
 * to): the function's current code is downloaded from Lambda's presigned Code.Location, checked
 * against its CodeSha256 and stored under its content address. A download that is impossible
 * (no location, an HTTP error, other bytes) is reported, not thrown: the caller decides what a
 * deploy without a way back means. Cancellation and S3 errors are thrown.
 */
export async function savePreviousCode(options: {
  lambda: LambdaClient;
  s3: S3Client;
  functionName: string;
  bucket: string;
  key: string;
  codeSha256: string;
  signal: AbortSignal;
  download?: CodeDownloader | undefined;
  onProgress?: ((message: string) => void) | undefined;
}): Promise<SavePreviousCodeResult> {
  const { lambda, s3, functionName, bucket, key, codeSha256, signal } = options;
  const download = options.download ?? downloadCodeOverHttps;
  const location = await codeLocationOf(lambda, functionName);
  if (!location) return { saved: false, reason: "Lambda's GetFunction offers no download location for it" };
  // Safety: against an emulator or proxy the location names a real AWS host the emulator
  // does not serve; fetching it would send a request outside the endpoint the user chose.
  if (!options.download && (await servedElsewhere(lambda, location))) {
    return {
      saved: false,
      reason:
        "the code location is not on the AWS endpoint in use (an emulator or proxy), so it was not fetched",
    };
  }
  options.onProgress?.(`Saving the code live now (CodeSha256 ${codeSha256}) to s3://${bucket}/${key}`);
  let body: Buffer;
  try {
    body = Buffer.from(await download(location, signal));
  } catch (error) {
    if (signal.aborted)
      throw new CancelledError("Cancelled while saving the live code; the function was not changed.");
    // The URL is presigned: its query holds a signature, so only the failure is named.
    return {
      saved: false,
      reason: `downloading it from Lambda failed (${quote((error as Error).message, 200)})`,
    };
  }
  const digest = createHash("sha256").update(body).digest();
  if (digest.toString("base64") !== codeSha256) {
    return {
      saved: false,
      reason: `the ${formatBytes(body.length)} downloaded from Lambda hash to ${digest.toString("base64")}, not its CodeSha256`,
    };
  }
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentType: "application/zip",
        // Safety: S3 refuses the bytes unless they hash to the live CodeSha256 checked above.
        ChecksumAlgorithm: "SHA256",
        ChecksumSHA256: codeSha256,
        Metadata: { sha256: digest.toString("hex") },
        IfNoneMatch: "*",
      }),
      { abortSignal: signal },
    );
  } catch (error) {
    // Another deploy stored the same content-addressed object meanwhile: same bytes, fine.
    if (isAwsErrorNamed(error, "PreconditionFailed")) return { saved: true };
    if (signal.aborted)
      throw new CancelledError("Cancelled while saving the live code; the function was not changed.");
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  }
  return { saved: true };
}

/**
 * The zip's bytes as they are read for the upload, hashed on the way: the stream fails at its
 * end, before the upload completes, if they are not the bytes that were built and planned (a
 * file swapped on disk between the plan and the upload).
 */
function verifiedZipStream(file: string, sha256Hex: string, bytes: number): Readable {
  const hash = createHash("sha256");
  let size = 0;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      // Longer than planned: no reason to send another part.
      if (size > bytes) done(zipChanged());
      else done(null, chunk);
    },
    flush(done) {
      const matches = size === bytes && hash.digest("hex") === sha256Hex;
      done(matches ? null : zipChanged());
    },
  });
  return pipeline(createReadStream(file), check, () => {});
}

/** True when the client talks to an endpoint override and the URL is on another host. */
async function servedElsewhere(lambda: LambdaClient, url: string): Promise<boolean> {
  const configured = lambda.config.endpoint ? await lambda.config.endpoint() : undefined;
  if (!configured && !hasEndpointOverride()) return false;
  return new URL(url).hostname !== configured?.hostname;
}
