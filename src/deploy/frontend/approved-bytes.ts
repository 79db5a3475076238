import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { pipeline, type Readable, Transform, type TransformCallback } from "node:stream";
import { finished } from "node:stream/promises";
import { DeployError } from "../../core/errors.js";
import { quote } from "../../core/quote.js";
import type { ManifestEntry } from "./diff.js";

/** Longest file path the refusal quotes (file names are the repo's text: data only). */
const PATH_CHARS = 300;

/**
 * The bytes a release uploads are the bytes that were planned and approved: each upload
 * hashes exactly what it sends (one read, no second look at the file) and stops when that is
 * not the approved SHA-256 — a file rewritten while the person approved, or by a build still
 * running, never goes live under the old approval.
 */
export function changedAfterPlan(key: string, found: { sha256: string | null; size: number }): DeployError {
  return new DeployError(
    "PRECONDITION",
    "A file of the build changed after the plan was made: its bytes no longer match the approved SHA-256, so it was not uploaded and the release stopped. Let the build finish, then plan and approve again.",
    { detail: { path: quote(key, PATH_CHARS), readSha256: found.sha256, readBytes: found.size } },
  );
}

/** The approved SHA-256 as S3's `x-amz-checksum-sha256` wants it: base64 of the digest. */
export function checksumSha256Of(entry: Pick<ManifestEntry, "sha256">): string {
  return Buffer.from(entry.sha256, "hex").toString("base64");
}

/** The whole file in memory, refused unless it is the approved content (used for single PUTs). */
export async function readApproved(key: string, path: string, entry: ManifestEntry): Promise<Buffer> {
  const bytes = await readFile(path);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== entry.sha256 || bytes.length !== entry.size)
    throw changedAfterPlan(key, { sha256, size: bytes.length });
  return bytes;
}

/**
 * The file as a stream that hashes what passes through it and fails at its end when that is
 * not the approved content (or at once when it grows past the approved size). Whoever consumes
 * it — the multipart upload — sees the error before it has read the last byte, so it never
 * completes an upload of other bytes.
 */
export function approvedStream(key: string, path: string, entry: ManifestEntry): Readable {
  const hash = createHash("sha256");
  let size = 0;
  const check = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      if (size > entry.size) done(changedAfterPlan(key, { sha256: null, size }));
      else done(null, chunk);
    },
    flush(done: TransformCallback) {
      const sha256 = hash.digest("hex");
      done(sha256 === entry.sha256 && size === entry.size ? null : changedAfterPlan(key, { sha256, size }));
    },
  });
  // pipeline (not pipe) carries a read error of the file into `check`, where the consumer sees it.
  return pipeline(createReadStream(path), check, () => {});
}

/** Reads the file through approvedStream to its end without keeping it: resolves only for the approved content. */
export async function checkApproved(key: string, path: string, entry: ManifestEntry): Promise<void> {
  const stream = approvedStream(key, path, entry);
  stream.resume();
  await finished(stream);
}
