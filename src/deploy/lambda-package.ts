import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readFile, realpath, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { PassThrough, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import pLimit from "p-limit";
import { glob } from "tinyglobby";
import yazl from "yazl";
import type { BackendConfig } from "../config/schema.js";
import { DeployError, throwIfAborted } from "../errors.js";

/** Lambda's limit on a function's unzipped code size: 250 MB (262,144,000 bytes). */
export const LAMBDA_MAX_UNZIPPED_BYTES = 262_144_000;

/*
 * Fixed entry timestamp. The DOS date fields are written from local time, so a local-time
 * date encodes the same bytes in every timezone; the extended (UTC) timestamp field is
 * turned off for the same reason.
 */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
const REGULAR_FILE = 0o100000;
const MODE_PLAIN = REGULAR_FILE | 0o644;
const MODE_EXECUTABLE = REGULAR_FILE | 0o755;
const SMALL_FILE_BYTES = 1024 * 1024;
const BATCH_FILES = 64;
const BATCH_BYTES = 8 * 1024 * 1024;

export interface PackageEntry {
  /** Path inside the zip (posix separators). */
  name: string;
  /** SHA-256 (hex) of the file's content. */
  sha256: string;
  size: number;
}

export interface LambdaPackage {
  path: string;
  /** SHA-256 of the zip, hex: the artifact key's name. */
  sha256Hex: string;
  /** SHA-256 of the zip, base64: what Lambda reports as CodeSha256. */
  codeSha256: string;
  bytes: number;
  unzippedBytes: number;
  /** Sorted by name. */
  entries: PackageEntry[];
}

export interface BuildLambdaPackageOptions {
  appRoot: string;
  backend: BackendConfig;
  outFile: string;
  signal?: AbortSignal | undefined;
  /** Lowered by tests; Lambda's own limit otherwise. */
  maxUnzippedBytes?: number;
  onProgress?: ((message: string) => void) | undefined;
}

interface SourceFile {
  name: string;
  /** Real path of the content (a symlink's target). */
  source: string;
  size: number;
  executable: boolean;
}

/**
 * Builds the backend's Lambda zip deterministically: the same tree gives a byte-identical
 * zip whatever the files' mtimes, owners or the machine's timezone. Files are streamed into
 * the zip one at a time and the zip is hashed while it is written, so memory stays flat
 * whatever the package size.
 */
export async function buildLambdaPackage(options: BuildLambdaPackageOptions): Promise<LambdaPackage> {
  const { backend, signal } = options;
  const backendDir = resolve(options.appRoot, backend.dir);
  const files = await collectFiles(backendDir, backend);
  throwIfAborted(signal);
  const unzippedBytes = files.reduce((sum, f) => sum + f.size, 0);
  checkUnzippedSize(unzippedBytes, options.maxUnzippedBytes ?? LAMBDA_MAX_UNZIPPED_BYTES, files);
  if (files.length === 0) {
    throw new DeployError(
      "PRECONDITION",
      `No files matched the backend package rules in ${backendDir} (include ${JSON.stringify(backend.include)}, dependencyDirs ${JSON.stringify(backend.dependencyDirs)}). Check "backend" in deploy.config.json.`,
    );
  }
  options.onProgress?.(`Packaging ${files.length} files (${formatBytes(unzippedBytes)} unzipped)`);

  await mkdir(dirname(options.outFile), { recursive: true });
  const zip = new yazl.ZipFile();
  const entries: PackageEntry[] = files.map((f) => ({ name: f.name, sha256: "", size: f.size }));
  const zipHash = createHash("sha256");
  let bytes = 0;
  const counting = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      zipHash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  // yazl reports read failures as "error" events on the ZipFile, not on its output stream.
  const zipFailed = new Promise<never>((_, reject) => zip.on("error", reject));
  // The writer runs while entries are still being added: adding waits on its progress.
  const written = pipeline(
    zip.outputStream,
    counting,
    createWriteStream(options.outFile),
    signal ? { signal } : {},
  );
  const added = addEntries(zip, files, entries, signal).then(
    () => zip.end(),
    (error: unknown) => {
      (zip.outputStream as PassThrough).destroy(error as Error);
      throw error;
    },
  );
  try {
    await Promise.race([Promise.all([written, added]), zipFailed]);
  } catch (error) {
    if (signal?.aborted) throw new DeployError("CANCELLED", "Packaging was cancelled; nothing was uploaded.");
    if (error instanceof DeployError) throw error;
    throw new DeployError("TOOL_FAILED", `Writing the Lambda package failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const digest = zipHash.digest();
  return {
    path: options.outFile,
    sha256Hex: digest.toString("hex"),
    codeSha256: digest.toString("base64"),
    bytes,
    unzippedBytes,
    entries,
  };
}

/** Lambda's CodeSha256 (base64) as the hex the artifact keys use. */
export function codeSha256ToHex(codeSha256: string): string {
  return Buffer.from(codeSha256, "base64").toString("hex");
}

export function checkUnzippedSize(unzippedBytes: number, limit: number, files: SourceFile[] = []): void {
  if (unzippedBytes <= limit) return;
  const largest = [...files]
    .sort((a, b) => b.size - a.size)
    .slice(0, 5)
    .map((f) => `${f.name} (${formatBytes(f.size)})`);
  throw new DeployError(
    "PRECONDITION",
    `The Lambda package would be ${formatBytes(unzippedBytes)} (${unzippedBytes} bytes) unzipped, over Lambda's limit of ${formatBytes(limit)} (${limit} bytes). Remove unneeded dependencies or add exclude patterns under "backend" in deploy.config.json, or move large dependencies to a Lambda layer or container image.${largest.length ? ` Largest files: ${largest.join(", ")}.` : ""}`,
    { detail: { unzippedBytes, limitBytes: limit, largestFiles: largest } },
  );
}

/**
 * Lists what goes into the zip: `include` globs relative to the backend dir, plus each
 * dependency dir's content at the zip root (where Python's import path looks), minus
 * `exclude`. Sorted by zip name; a name claimed twice is an error, never a silent pick.
 */
async function collectFiles(backendDir: string, backend: BackendConfig): Promise<SourceFile[]> {
  await assertDirectory(backendDir, `backend.dir "${backend.dir}"`);
  const realBackendDir = await realpath(backendDir);
  const byName = new Map<string, { origin: string; file: SourceFile }>();
  const add = (file: SourceFile, origin: string) => {
    const existing = byName.get(file.name);
    if (existing) {
      throw new DeployError(
        "PRECONDITION",
        `Two files would have the same path "${file.name}" in the Lambda zip: one from ${existing.origin}, one from ${origin}. Rename one, or exclude one under "backend.exclude" in deploy.config.json.`,
      );
    }
    byName.set(file.name, { origin, file });
  };

  const depIgnores = backend.dependencyDirs.map((d) => `${trimSlashes(d)}/**`);
  const candidates: Array<{ root: string; name: string; origin: string }> = [];
  const appNames = await glob(backend.include, {
    cwd: backendDir,
    ignore: [...backend.exclude, ...depIgnores],
    onlyFiles: true,
    dot: true,
    followSymbolicLinks: true,
    expandDirectories: false,
  });
  for (const name of appNames) candidates.push({ root: backendDir, name, origin: `the app (${name})` });
  for (const depDir of backend.dependencyDirs) {
    const depRoot = join(backendDir, depDir);
    await assertDirectory(depRoot, `backend.dependencyDirs entry "${depDir}"`);
    const depNames = await glob(["**"], {
      cwd: depRoot,
      ignore: backend.exclude,
      onlyFiles: true,
      dot: true,
      followSymbolicLinks: true,
    });
    for (const name of depNames) candidates.push({ root: depRoot, name, origin: `${depDir}/${name}` });
  }
  // Thousands of small files: one await per syscall in sequence costs more than the zipping.
  const limit = pLimit(32);
  const folders = new Map<string, Promise<string>>();
  const described = await Promise.all(
    candidates.map((c) => limit(() => describeFile(c.root, c.name, realBackendDir, folders))),
  );
  described.forEach((file, i) => {
    add(file, (candidates[i] as { origin: string }).origin);
  });
  return [...byName.values()]
    .map((v) => v.file)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Symlinks are followed and stored as regular files with the target's content (as Lambda
 * would see them after unzipping), but only when the target stays inside the backend dir.
 */
async function describeFile(
  root: string,
  relName: string,
  realBackendDir: string,
  folders: Map<string, Promise<string>>,
): Promise<SourceFile> {
  const path = join(root, relName);
  const link = await lstat(path);
  let source = path;
  let info = link;
  if (link.isSymbolicLink()) {
    let target: string;
    try {
      target = await realpath(path);
    } catch (error) {
      throw new DeployError(
        "PRECONDITION",
        `${path} is a symlink whose target does not exist. Fix or remove it, or exclude it under "backend.exclude".`,
        { cause: error },
      );
    }
    // Safety: a link out of the backend could put any file of the machine (credentials, keys) into the zip.
    if (target !== realBackendDir && !target.startsWith(realBackendDir + sep)) {
      throw new DeployError(
        "PRECONDITION",
        `${path} is a symlink to ${target}, outside the backend dir ${realBackendDir}; it is not packaged. Copy the file into the backend, or exclude the link under "backend.exclude".`,
      );
    }
    source = target;
    info = await stat(target);
  } else {
    const folder = dirname(path);
    let pending = folders.get(folder);
    if (!pending) {
      pending = realpath(folder);
      folders.set(folder, pending);
    }
    const parent = await pending;
    // Safety: same rule for files reached through a symlinked directory.
    if (parent !== realBackendDir && !parent.startsWith(realBackendDir + sep)) {
      throw new DeployError(
        "PRECONDITION",
        `${path} is reached through a symlinked folder pointing outside the backend dir ${realBackendDir}. Copy the folder into the backend, or exclude it under "backend.exclude".`,
      );
    }
  }
  return {
    name: relName.split(sep).join("/"),
    source,
    size: info.size,
    executable: (info.mode & 0o111) !== 0,
  };
}

async function assertDirectory(path: string, what: string): Promise<void> {
  const info = await stat(path).catch(() => null);
  if (!info?.isDirectory()) {
    throw new DeployError(
      "PRECONDITION",
      `${what} (${path}) is not a folder. Fix "backend" in deploy.config.json or create the folder.`,
    );
  }
}

function trimSlashes(path: string): string {
  return path.replace(/^\.?\/+/, "").replace(/\/+$/, "");
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

interface Batch {
  start: number;
  end: number;
  /** A large file alone, streamed from disk. */
  streamed: boolean;
}

/** Consecutive small files grouped up to BATCH_FILES / BATCH_BYTES; each large file alone. */
function planBatches(files: SourceFile[]): Batch[] {
  const batches: Batch[] = [];
  let current: Batch | null = null;
  let currentBytes = 0;
  files.forEach((file, index) => {
    if (file.size > SMALL_FILE_BYTES) {
      current = null;
      batches.push({ start: index, end: index + 1, streamed: true });
      return;
    }
    if (!current || current.end - current.start >= BATCH_FILES || currentBytes + file.size > BATCH_BYTES) {
      current = { start: index, end: index, streamed: false };
      currentBytes = 0;
      batches.push(current);
    }
    current.end = index + 1;
    currentBytes += file.size;
  });
  return batches;
}

/**
 * Adds every file to the zip in order. Small files are read a batch at a time and given to
 * yazl as buffers, so their deflates run in parallel on libuv's pool instead of one stream
 * after another (thousands of small Python files would otherwise wait on each other); large
 * files are streamed. Each batch opens with a lazily read entry whose callback fires only
 * when yazl reaches it, i.e. when everything before it is written: the next batch waits for
 * that, so at most two batches are in memory whatever the package size.
 */
async function addEntries(
  zip: yazl.ZipFile,
  files: SourceFile[],
  entries: PackageEntry[],
  signal: AbortSignal | undefined,
): Promise<void> {
  let previousReached: Promise<void> = Promise.resolve();
  for (const batch of planBatches(files)) {
    await previousReached;
    throwIfAborted(signal);
    let markReached: () => void = () => {};
    const reached = new Promise<void>((resolve) => {
      markReached = resolve;
    });
    if (batch.streamed) {
      const file = files[batch.start] as SourceFile;
      const entry = entries[batch.start] as PackageEntry;
      zip.addReadStreamLazy(file.name, { ...entryOptions(file), size: file.size }, (callback) => {
        markReached();
        const hashing = new HashingPassThrough((hex) => {
          entry.sha256 = hex;
        });
        const input = createReadStream(file.source);
        input.on("error", (error) => hashing.destroy(error));
        callback(null, input.pipe(hashing));
      });
    } else {
      const slice = files.slice(batch.start, batch.end);
      const contents = await Promise.all(slice.map((file) => readFile(file.source)));
      contents.forEach((content, offset) => {
        const index = batch.start + offset;
        const file = files[index] as SourceFile;
        if (content.length !== file.size) {
          throw new DeployError(
            "PRECONDITION",
            `${file.source} changed while it was being packaged (${file.size} bytes, then ${content.length}). Retry once nothing writes into the backend folder.`,
          );
        }
        (entries[index] as PackageEntry).sha256 = createHash("sha256").update(content).digest("hex");
        if (offset === 0) {
          zip.addReadStreamLazy(file.name, { ...entryOptions(file), size: file.size }, (callback) => {
            markReached();
            callback(null, new PassThrough().end(content));
          });
        } else {
          zip.addBuffer(content, file.name, entryOptions(file));
        }
      });
    }
    previousReached = reached;
  }
}

function entryOptions(file: SourceFile) {
  return {
    mtime: FIXED_MTIME,
    forceDosTimestamp: true,
    mode: file.executable ? MODE_EXECUTABLE : MODE_PLAIN,
    compress: true,
  };
}

/** Passes bytes through unchanged and reports their SHA-256 when the stream ends. */
class HashingPassThrough extends Transform {
  private readonly hash: Hash = createHash("sha256");
  constructor(private readonly onDigest: (hex: string) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    this.onDigest(this.hash.digest("hex"));
    done();
  }
}
