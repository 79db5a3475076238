import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { glob } from "tinyglobby";
import { DeployError } from "../errors.js";
import { forEachBounded } from "./frontend-bounded.js";

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

/** Both digests in one pass; a large file is streamed, never held in memory. */
export async function hashFile(path: string): Promise<{ md5: string; sha256: string; size: number }> {
  const info = await stat(path);
  if (info.size <= WHOLE_READ_LIMIT) {
    const bytes = await readFile(path);
    return {
      md5: createHash("md5").update(bytes).digest("hex"),
      sha256: createHash("sha256").update(bytes).digest("hex"),
      size: bytes.length,
    };
  }
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

/** Walks the built site (dotfiles included), hashing files in parallel; sorted by key. */
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
  return forEachBounded(
    keys,
    options.concurrency ?? 32,
    async (key) => {
      const path = join(distDir, key);
      return { key, path, ...(await hashFile(path)) };
    },
    options.signal,
  );
}
