import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { pipeline, type Readable, Transform } from "node:stream";
import { GetFunctionCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { isAwsErrorNamed, mapAwsError } from "../../aws/errors.js";
import { CancelledError, DeployError } from "../../core/errors.js";
import { codeSha256ToHex, formatBytes } from "./package.js";

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

/** Streams the zip from disk; lib-storage switches to multipart above 5 MB parts. */
export async function uploadArtifact(options: UploadArtifactOptions): Promise<void> {
  const { s3, bucket, key, signal } = options;
  const upload = new Upload({
    client: s3,
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
    queueSize: 4,
    partSize: 8 * 1024 * 1024,
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
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

/**
 * Makes sure the code live now can be restored by artifact (no-alias mode has no version to
 * point back to): if <prefix><hex(live CodeSha256)>.zip is missing, the function's current
 * code is downloaded from Lambda's presigned Code.Location, checked against CodeSha256 and
 * stored under that key.
 */
export async function savePreviousCode(options: {
  lambda: LambdaClient;
  s3: S3Client;
  functionName: string;
  bucket: string;
  key: string;
  codeSha256: string;
  signal?: AbortSignal | undefined;
  fetchImpl?: typeof fetch;
}): Promise<void> {
  const { lambda, s3, functionName, bucket, key, codeSha256 } = options;
  const fetchImpl = options.fetchImpl ?? fetch;
  const remedy = `Save it yourself (download the function's code and aws s3 cp it to s3://${bucket}/${key}), or configure lambda.alias so a rollback can move the alias back.`;
  let location: string | undefined;
  try {
    const out = await lambda.send(new GetFunctionCommand({ FunctionName: functionName }));
    location = out.Code?.Location;
  } catch (error) {
    throw mapAwsError(error, "lambda:GetFunction", functionName);
  }
  let body: Buffer;
  try {
    if (!location) throw new Error("GetFunction returned no Code.Location");
    const response = await fetchImpl(location, options.signal ? { signal: options.signal } : {});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    // Bounded by Lambda's 250 MB limit; the download is verified before it is stored.
    body = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    if (options.signal?.aborted) throw new CancelledError();
    throw new DeployError(
      "PRECONDITION",
      `The code live on ${functionName} (CodeSha256 ${codeSha256}) has no artifact in s3://${bucket} to roll back to, and downloading it from Lambda failed (${(error as Error).message}). Nothing was changed. ${remedy}`,
      { cause: error },
    );
  }
  const digest = createHash("sha256").update(body).digest("base64");
  if (digest !== codeSha256) {
    throw new DeployError(
      "PRECONDITION",
      `The code downloaded from ${functionName} hashes to ${digest}, not its CodeSha256 ${codeSha256}; it is not kept as a rollback artifact. Nothing was changed. ${remedy}`,
    );
  }
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: "application/zip",
        IfNoneMatch: "*",
      }),
    );
  } catch (error) {
    // Another deploy stored the same content-addressed object meanwhile: same bytes, fine.
    if (isAwsErrorNamed(error, "PreconditionFailed")) return;
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  }
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
      done(null, chunk);
    },
    flush(done) {
      const matches = size === bytes && hash.digest("hex") === sha256Hex;
      done(
        matches
          ? null
          : new DeployError(
              "PRECONDITION",
              "The Lambda package changed on disk after it was built and planned: its bytes no longer match the planned SHA-256, so the upload was stopped and the function was not changed. Plan again.",
            ),
      );
    },
  });
  return pipeline(createReadStream(file), check, () => {});
}
