import { createHash } from "node:crypto";
import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { glob } from "tinyglobby";
import { DeployError, throwIfAborted } from "../../core/errors.js";
import { forEachBounded } from "./bounded.js";

/** One file of the built site, keyed by its path in dist/ with forward slashes. */
export interface LocalFile {
  key: string;
  path: string;
  size: number;
  /** Hex MD5: what S3 reports as the ETag of a single-part, non-KMS upload. */
  md5: string;
  /** Hex SHA-256: our own content hash, stored as object metadata `sha256`. */
  sha256: string;
}

/** Files up to this size are read in one call: a stream per small file costs more than the hashing. */
const WHOLE_READ_LIMIT = 4 * 1024 * 1024;

/** Small files hashed between two turns of the event loop (a few ms of synchronous reads). */
const SYNC_BATCH = 64;

/** Both digests in one pass; a large file is streamed, never held in memory. */
export async function hashFile(path: string): Promise<{ md5: string; sha256: string; size: number }> {
  const info = await stat(path);
  if (info.size <= WHOLE_READ_LIMIT) {
    const bytes = await readFile(path);
    return digestsOf(bytes);
  }
  return hashStream(path);
}

function digestsOf(bytes: Buffer): { md5: string; sha256: string; size: number } {
  return {
    md5: createHash("md5").update(bytes).digest("hex"),
    sha256: createHash("sha256").update(bytes).digest("hex"),
    size: bytes.length,
  };
}

async function hashStream(path: string): Promise<{ md5: string; sha256: string; size: number }> {
  const md5 = createHash("md5");
  const sha256 = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    const buffer = chunk as Buffer;
    md5.update(buffer);
    sha256.update(buffer);
    size += buffer.length;
  }
  return { md5: md5.digest("hex"), sha256: sha256.digest("hex"), size };
}

/**
 * Hashes one small file into `scratch` with synchronous reads. Why synchronous: a built site
 * is thousands of few-KB files, and each async read is four thread-pool round trips
 * (open, fstat, read, close) that cost far more than the read; why one scratch buffer: no
 * file's bytes outlive its hash (the upload reads the file again), so hashing a large dist
 * does not raise the server's memory. Returns null for a file too large for the scratch.
 */
function hashSmallFileSync(
  path: string,
  scratch: Buffer,
): { md5: string; sha256: string; size: number } | null {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size > scratch.length) return null;
    let read = 0;
    while (read < size) {
      const n = readSync(fd, scratch, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return digestsOf(scratch.subarray(0, read));
  } finally {
    closeSync(fd);
  }
}

/** Walks the built site (dotfiles included) and hashes every file; sorted by key. */
export async function walkDist(
  distDir: string,
  options: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<LocalFile[]> {
  try {
    const info = await stat(distDir);
    if (!info.isDirectory()) throw new Error("not a folder");
  } catch (error) {
    throw new DeployError(
      "PRECONDITION",
      `The build output ${distDir} does not exist. Build the frontend (or deploy without skipBuild), or fix frontend.dir / frontend.distDir in deploy.config.json.`,
      { cause: error },
    );
  }
  const keys = (await glob("**/*", { cwd: distDir, dot: true, onlyFiles: true })).sort();
  const files: LocalFile[] = new Array(keys.length);
  const large: number[] = [];
  const scratch = Buffer.allocUnsafe(WHOLE_READ_LIMIT);
  for (let start = 0; start < keys.length; start += SYNC_BATCH) {
    throwIfAborted(options.signal);
    for (let i = start; i < Math.min(start + SYNC_BATCH, keys.length); i++) {
      const key = keys[i] as string;
      const path = join(distDir, key);
      const digests = hashSmallFileSync(path, scratch);
      if (digests) files[i] = { key, path, ...digests };
      else large.push(i);
    }
    // Let cancellation and client messages in between batches.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await forEachBounded(
    large,
    options.concurrency ?? 4,
    async (i) => {
      const key = keys[i] as string;
      const path = join(distDir, key);
      files[i] = { key, path, ...(await hashStream(path)) };
    },
    options.signal,
  );
  return files;
}
