import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { open, readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { DeployError, throwIfAborted } from "../../core/errors.js";
import { quote } from "../../core/quote.js";
import { forEachBounded } from "./bounded.js";
import { isWithin } from "./dist-dir.js";
import { globToRegExp } from "./headers.js";

/** One file of the built site, keyed by its path in dist/ with forward slashes. */
export interface LocalFile {
  key: string;
  /** Where its bytes are read: the file itself, or the real path of an in-tree symlink's target. */
  path: string;
  size: number;
  /** Hex MD5: what S3 reports as the ETag of a single-part, non-KMS upload. */
  md5: string;
  /** Hex SHA-256: our own content hash, stored as object metadata `sha256`. */
  sha256: string;
}

export interface DistWalk {
  /** Every file to publish, sorted by key. */
  files: LocalFile[];
  /** Keys of dotfiles no `frontend.uploadDotfiles` rule allows: not read, not uploaded. Sorted. */
  skippedDotfiles: string[];
}

/** What makes an entry of the build output unsafe to publish. */
export type UnsafeProblem = "link_outside" | "link_broken" | "link_loop" | "hard_link" | "not_a_file";

interface Unsafe {
  key: string;
  problem: UnsafeProblem;
}

/** Files up to this size are read in one call: a stream per small file costs more than the hashing. */
const WHOLE_READ_LIMIT = 4 * 1024 * 1024;

/** Small files hashed between two turns of the event loop (a few ms of synchronous reads). */
const SYNC_BATCH = 64;

/** Unsafe entries named in a refusal's detail; the rest are counted. */
const UNSAFE_LISTED = 20;

/** Longest file path a refusal quotes (file names are the repo's text: data only). */
const PATH_CHARS = 300;

/**
 * Opened without following a final symlink: the walk resolved every link already, so a link
 * found here was put in place after the walk and is not what was checked.
 */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

type Digests = { md5: string; sha256: string; size: number };

function digestsOf(bytes: Buffer): Digests {
  return {
    md5: createHash("md5").update(bytes).digest("hex"),
    sha256: createHash("sha256").update(bytes).digest("hex"),
    size: bytes.length,
  };
}

/** A hard link's other name can be anywhere (~/.aws/credentials): its bytes are not the build's own. */
function problemOf(info: { isFile(): boolean; nlink: number }): UnsafeProblem | null {
  if (!info.isFile()) return "not_a_file";
  return info.nlink > 1 ? "hard_link" : null;
}

/** Both digests in one pass over a stream; a large file is never held in memory. */
async function hashStream(path: string): Promise<Digests | UnsafeProblem> {
  const handle = await openChecked(path);
  if (typeof handle === "string") return handle;
  try {
    const problem = problemOf(await handle.stat());
    if (problem) return problem;
    const md5 = createHash("md5");
    const sha256 = createHash("sha256");
    let size = 0;
    for await (const chunk of handle.createReadStream({ autoClose: false })) {
      const buffer = chunk as Buffer;
      md5.update(buffer);
      sha256.update(buffer);
      size += buffer.length;
    }
    return { md5: md5.digest("hex"), sha256: sha256.digest("hex"), size };
  } finally {
    await handle.close();
  }
}

async function openChecked(path: string) {
  try {
    return await open(path, READ_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") return "not_a_file" as const;
    throw error;
  }
}

/**
 * Hashes one small file into `scratch` with synchronous reads. Why synchronous: a built site
 * is thousands of few-KB files, and each async read is four thread-pool round trips
 * (open, fstat, read, close) that cost far more than the read; why one scratch buffer: no
 * file's bytes outlive its hash (the upload reads the file again and checks it against this
 * hash), so hashing a large dist does not raise the server's memory. Returns null for a file
 * too large for the scratch, the problem for one that is not safe to publish.
 */
function hashSmallFileSync(path: string, scratch: Buffer): Digests | UnsafeProblem | null {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") return "not_a_file";
    throw error;
  }
  try {
    const info = fstatSync(fd);
    const problem = problemOf(info);
    if (problem) return problem;
    if (info.size > scratch.length) return null;
    let read = 0;
    while (read < info.size) {
      const n = readSync(fd, scratch, read, info.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return digestsOf(scratch.subarray(0, read));
  } finally {
    closeSync(fd);
  }
}

/** A path with a segment starting with "." (`.env`, `.git/config`, `.well-known/x`). */
export function isDotPath(key: string): boolean {
  return key.split("/").some((segment) => segment.startsWith("."));
}

interface Candidate {
  key: string;
  path: string;
}

interface Folder {
  /** Real path of the folder being listed. */
  dir: string;
  prefix: string;
  /** Real paths of the folders from the root down to this one: a link back to one is a loop. */
  chain: string[];
}

/**
 * Lists every file below `realDist` without reading any. Symlinks are followed only when their
 * real target lies inside the build output; a link out of it, a broken one, a folder link that
 * contains itself and anything that is not a file, folder or link are collected as unsafe.
 * Links are checked where they are found, so the walk never enters a folder outside the root.
 */
async function listTree(
  realDist: string,
  signal: AbortSignal | undefined,
): Promise<{ candidates: Candidate[]; unsafe: Unsafe[] }> {
  const candidates: Candidate[] = [];
  const unsafe: Unsafe[] = [];
  const stack: Folder[] = [{ dir: realDist, prefix: "", chain: [realDist] }];
  for (let folder = stack.pop(); folder; folder = stack.pop()) {
    throwIfAborted(signal);
    for (const entry of await readdir(folder.dir, { withFileTypes: true })) {
      const key = folder.prefix + entry.name;
      const path = join(folder.dir, entry.name);
      if (entry.isFile()) candidates.push({ key, path });
      else if (entry.isDirectory())
        stack.push({ dir: path, prefix: `${key}/`, chain: [...folder.chain, path] });
      else if (entry.isSymbolicLink()) {
        const problem = await followLink(path, key, realDist, folder, stack, candidates);
        if (problem) unsafe.push({ key, problem });
      } else unsafe.push({ key, problem: "not_a_file" });
    }
  }
  return { candidates, unsafe };
}

/** An in-tree link stands for its target: a file is read from the target, a folder is walked. */
async function followLink(
  path: string,
  key: string,
  realDist: string,
  folder: Folder,
  stack: Folder[],
  candidates: Candidate[],
): Promise<UnsafeProblem | null> {
  let target: string;
  try {
    target = await realpath(path);
  } catch {
    return "link_broken";
  }
  // Safety: a link out of dist/ would publish any file of the machine (credentials, keys).
  if (!isWithin(realDist, target)) return "link_outside";
  const info = await stat(target);
  if (info.isFile()) {
    candidates.push({ key, path: target });
    return null;
  }
  if (!info.isDirectory()) return "not_a_file";
  if (folder.chain.includes(target)) return "link_loop";
  stack.push({ dir: target, prefix: `${key}/`, chain: [...folder.chain, target] });
  return null;
}

/** Hard links among the skipped dotfiles: refused like any other, though never read. */
async function skippedProblems(skipped: Candidate[]): Promise<Unsafe[]> {
  const found: Unsafe[] = [];
  for (const file of skipped) {
    const problem = problemOf(await stat(file.path));
    if (problem) found.push({ key: file.key, problem });
  }
  return found;
}

const PROBLEM_TEXT: Record<UnsafeProblem, string> = {
  link_outside:
    "symlink(s) resolving outside the build output (copy what they point to into the build, or remove them)",
  link_broken: "symlink(s) with no target (remove them)",
  link_loop: "symlinked folder(s) that contain themselves (remove the link)",
  hard_link:
    "file(s) with more than one hard link, whose other name may lie outside the build output (copy the file instead of linking it)",
  not_a_file:
    "entr(ies) that are neither a file, a folder nor a symlink, or became a link while read (remove them)",
};

/** The refusal: counts and fixes in the server's words; the paths (repo text) only in detail. */
export function unsafeEntriesError(unsafe: Unsafe[]): DeployError {
  const counts = new Map<UnsafeProblem, number>();
  for (const entry of unsafe) counts.set(entry.problem, (counts.get(entry.problem) ?? 0) + 1);
  const parts = [...counts].map(([problem, count]) => `${count} ${PROBLEM_TEXT[problem]}`);
  const sorted = [...unsafe].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return new DeployError(
    "PRECONDITION",
    `The build output holds ${parts.join("; ")}. Everything in it is published, so nothing was uploaded. The paths are in detail.unsafe.`,
    {
      detail: {
        unsafe: sorted
          .slice(0, UNSAFE_LISTED)
          .map((entry) => ({ path: quote(entry.key, PATH_CHARS), problem: entry.problem })),
        unsafeCount: unsafe.length,
      },
    },
  );
}

/**
 * Walks the built site and hashes every file it publishes; sorted by key. Refuses (before
 * reading any content) links that leave `distDir` and, while hashing, files with more than one
 * hard link: what is published must be the build's own bytes. Dotfiles are published only when
 * a `uploadDotfiles` glob allows them (`.env`, `.git/` and editor files are not a site's).
 */
/**
 * The keys walkDist would publish (sorted), without reading any file: what the bucket is
 * expected to hold, to split its listing by. The walk that publishes checks everything again.
 */
export async function listDistKeys(
  distDir: string,
  options: { uploadDotfiles: readonly string[]; signal?: AbortSignal },
): Promise<string[]> {
  const { candidates } = await listTree(await existingFolder(distDir), options.signal);
  const allowed = options.uploadDotfiles.map((glob) => globToRegExp(glob));
  return candidates
    .map((candidate) => candidate.key)
    .filter((key) => !isDotPath(key) || allowed.some((rule) => rule.test(key)))
    .sort();
}

export async function walkDist(
  distDir: string,
  options: {
    uploadDotfiles: readonly string[];
    concurrency?: number;
    signal?: AbortSignal;
    /** Told the keys to publish (sorted) once they are known, before any file is hashed. */
    onListed?: (keys: string[]) => void;
  },
): Promise<DistWalk> {
  const realDist = await existingFolder(distDir);
  const { candidates, unsafe } = await listTree(realDist, options.signal);
  candidates.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const allowed = options.uploadDotfiles.map((glob) => globToRegExp(glob));
  const skipped: Candidate[] = [];
  const published: Candidate[] = [];
  for (const candidate of candidates) {
    const dot = isDotPath(candidate.key) && !allowed.some((rule) => rule.test(candidate.key));
    (dot ? skipped : published).push(candidate);
  }
  options.onListed?.(published.map((file) => file.key));
  unsafe.push(...(await skippedProblems(skipped)));
  if (unsafe.length) throw unsafeEntriesError(unsafe);
  const files = await hashAll(published, options);
  return { files, skippedDotfiles: skipped.map((file) => file.key) };
}

async function existingFolder(distDir: string): Promise<string> {
  try {
    const info = await stat(distDir);
    if (!info.isDirectory()) throw new Error("not a folder");
    return await realpath(distDir);
  } catch (error) {
    throw new DeployError(
      "PRECONDITION",
      `The build output ${distDir} does not exist. Build the frontend (or deploy without skipBuild), or fix frontend.dir / frontend.distDir in deploy.config.json.`,
      { cause: error },
    );
  }
}

/** Small files in synchronous batches, large ones streamed a few at a time; refuses hard links. */
async function hashAll(
  published: Candidate[],
  options: { concurrency?: number; signal?: AbortSignal },
): Promise<LocalFile[]> {
  const files: LocalFile[] = new Array(published.length);
  const unsafe: Unsafe[] = [];
  const large: number[] = [];
  const scratch = Buffer.allocUnsafe(WHOLE_READ_LIMIT);
  const keep = (i: number, digests: Digests | UnsafeProblem) => {
    const { key, path } = published[i] as Candidate;
    if (typeof digests === "string") unsafe.push({ key, problem: digests });
    else files[i] = { key, path, ...digests };
  };
  for (let start = 0; start < published.length; start += SYNC_BATCH) {
    throwIfAborted(options.signal);
    for (let i = start; i < Math.min(start + SYNC_BATCH, published.length); i++) {
      const digests = hashSmallFileSync((published[i] as Candidate).path, scratch);
      if (digests === null) large.push(i);
      else keep(i, digests);
    }
    // Let cancellation and client messages in between batches.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await forEachBounded(
    large,
    options.concurrency ?? 4,
    async (i) => keep(i, await hashStream((published[i] as Candidate).path)),
    options.signal,
  );
  if (unsafe.length) throw unsafeEntriesError(unsafe);
  return files;
}
