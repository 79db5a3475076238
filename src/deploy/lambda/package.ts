import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, lstatSync, realpathSync, statSync } from "node:fs";
import { mkdir, realpath, rm, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import { glob } from "tinyglobby";
import type { BackendConfig } from "../../config/schema.js";
import { DeployError, throwIfAborted } from "../../core/errors.js";
import { quote } from "../../core/quote.js";
import { type FileStamp, HashCache, type HashCacheOpener } from "./hash-cache.js";
import {
  type CompressedEntry,
  CompressionPool,
  DEFAULT_DEFLATE_LEVEL,
  type EntryHeader,
  FileChangedError,
  METHOD_DEFLATED,
  METHOD_STORED,
  nativeCrc32,
  ZIP_FORMAT_VERSION,
  type ZipObserver,
  type ZipResult,
  ZipWriter,
} from "./zip-writer.js";

/** Longest file path a package error quotes (file names are the repo's text: data only). */
const PATH_CHARS = 300;

/** Lambda's limit on a function's unzipped code size: 250 MB (262,144,000 bytes). */
export const LAMBDA_MAX_UNZIPPED_BYTES = 262_144_000;

const REGULAR_FILE = 0o100000;
const MODE_PLAIN = REGULAR_FILE | 0o644;
const MODE_EXECUTABLE = REGULAR_FILE | 0o755;
/** Above this, a file is streamed rather than read whole. */
const LARGE_FILE_BYTES = 8 * 1024 * 1024;
/** Files stat'ed between two turns of the event loop by the walk (a few ms of synchronous calls). */
const DESCRIBE_BATCH = 256;
/** Content read ahead of the writer (compressed copies come on top, and are smaller). */
const WINDOW_BYTES = 32 * 1024 * 1024;
/** Files read ahead of the writer: enough to keep the thread pool busy on small files. */
const WINDOW_ENTRIES = 128;

export interface PackageEntry {
  /** Path inside the zip (posix separators). */
  name: string;
  /** SHA-256 (hex) of the file's content. */
  sha256: string;
  size: number;
  /** Stored with mode 0755 (any execute bit set on the file). */
  executable: boolean;
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
  /**
   * True when the hash cache answered (deferZip) and the zip at `path` is not written yet:
   * `ensurePackageFile(path)` writes it from the files, checked against `sha256Hex`, when an
   * upload needs it (uploadArtifact does).
   */
  deferred?: boolean;
}

export interface BuildLambdaPackageOptions {
  appRoot: string;
  backend: BackendConfig;
  outFile: string;
  signal?: AbortSignal | undefined;
  /** Lowered by tests; Lambda's own limit otherwise. */
  maxUnzippedBytes?: number;
  onProgress?: ((message: string) => void) | undefined;
  /**
   * Decide from the hash cache when it can (hash-cache.ts): when every file's stamp (size,
   * mtime, ctime, inode) is the one its digest was read at, and a zip of exactly those
   * contents was built here before, return that package without reading or zipping anything;
   * its zip is written from the files (and checked against the same SHA-256) only if an
   * upload needs it (`ensurePackageFile`, called by uploadArtifact). A no-op deploy then
   * reads no file content. Otherwise the zip is built as always and the cache learns it.
   * Off by default: a caller that reads `path` itself (or times the packager) gets a zip.
   */
  deferZip?: boolean;
  /**
   * Asked just before a zip is written (never when the hash cache answers): an observer to
   * follow the file as it grows (staged-upload.ts), or null.
   */
  observeZip?: ((unzippedBytes: number) => ZipObserver | null) | undefined;
  /** Where the hash cache comes from with deferZip (a call's walks share one: sharedHashCache). */
  openCache?: HashCacheOpener | undefined;
  /**
   * The walk, started earlier by the caller (collectPackageFiles of the same app root and
   * backend), with the instant taken before its first stat; on its failure the walk runs again
   * here and reports its own error.
   */
  walked?: EarlyWalk | undefined;
}

/** A walk of the backend started ahead of the packaging (a tool's prefetch). */
export interface EarlyWalk {
  /** Taken before the walk's first stat: a file changed after it is not cached. */
  startedAt: number;
  files: Promise<PackageFiles>;
}

/** Starts the walk a package needs, for a caller that packages a moment later (buildLambdaPackage's `walked`). */
export function startWalk(appRoot: string, backend: BackendConfig): EarlyWalk {
  const startedAt = Date.now();
  const files = collectPackageFiles(appRoot, backend);
  files.catch(() => {});
  return { startedAt, files };
}

/** One file the package will hold, as the walk found it. */
export interface SourceFile {
  /** Path inside the zip (posix separators). */
  name: string;
  /** Path relative to the backend dir (posix separators), as the include globs saw it. */
  path: string;
  /** True for content of a `backend.dependencyDirs` folder (build output, may be untracked). */
  dependency: boolean;
  /** Real path of the content (a symlink's target). */
  source: string;
  size: number;
  executable: boolean;
  /** The content's stat when the walk found it: what the hash cache compares. */
  stamp: FileStamp;
}

export interface PackageFiles {
  /** The backend dir as configured, resolved against the app root. */
  backendDir: string;
  /** Its real path (checked to lie inside the app root). */
  realBackendDir: string;
  /** Sorted by zip name. */
  files: SourceFile[];
}

/**
 * Builds the backend's Lambda zip deterministically: the same tree gives a byte-identical
 * zip whatever the files' mtimes, owners or the machine's timezone (every entry carries the
 * fixed DOS timestamp 1980-01-01 00:00 and no extended-time field; see zip-writer.ts).
 * Entries are compressed in parallel a bounded window ahead of the writer and the zip is
 * hashed while it is written, so memory stays bounded whatever the package size.
 */
export async function buildLambdaPackage(options: BuildLambdaPackageOptions): Promise<LambdaPackage> {
  const { backend, signal } = options;
  // Before the walk's stats: a file changed after this instant is not cached (hash-cache.ts).
  const startedAt = options.walked?.startedAt ?? Date.now();
  const walk = () => collectPackageFiles(options.appRoot, backend);
  const { backendDir, realBackendDir, files } = await (options.walked
    ? options.walked.files.catch(walk)
    : walk());
  throwIfAborted(signal);
  const unzippedBytes = files.reduce((sum, f) => sum + f.size, 0);
  checkUnzippedSize(unzippedBytes, options.maxUnzippedBytes ?? LAMBDA_MAX_UNZIPPED_BYTES, files);
  if (files.length === 0) {
    throw new DeployError(
      "PRECONDITION",
      `No files matched the backend package rules in ${backendDir} (include ${JSON.stringify(backend.include)}, dependencyDirs ${JSON.stringify(backend.dependencyDirs)}). Check "backend" in deploy.config.json.`,
    );
  }
  const cache = options.deferZip
    ? await (options.openCache?.(realBackendDir) ?? HashCache.open(realBackendDir, { now: () => startedAt }))
    : HashCache.disabled();
  if (options.deferZip) {
    const known = fromCache(cache, files, options, unzippedBytes, realBackendDir);
    if (known) {
      await cache.save();
      options.onProgress?.(
        `Packaging ${files.length} files (${formatBytes(unzippedBytes)} unzipped): unchanged since a package built here, taken from the hash cache`,
      );
      return known;
    }
  }
  options.onProgress?.(`Packaging ${files.length} files (${formatBytes(unzippedBytes)} unzipped)`);
  const pkg = await writePackage(options, files, unzippedBytes);
  if (options.deferZip) {
    files.forEach((file, i) => {
      cache.record(file.source, file.stamp, { sha256: (pkg.entries[i] as PackageEntry).sha256, blob: {} });
    });
    cache.recordPackage(packageCacheKey(pkg.entries), { sha256Hex: pkg.sha256Hex, bytes: pkg.bytes });
    await cache.save();
  }
  return pkg;
}

async function writePackage(
  options: BuildLambdaPackageOptions,
  files: SourceFile[],
  unzippedBytes: number,
): Promise<LambdaPackage> {
  const { signal } = options;
  await mkdir(dirname(options.outFile), { recursive: true });
  const entries: PackageEntry[] = files.map((f) => ({
    name: f.name,
    sha256: "",
    size: f.size,
    executable: f.executable,
  }));
  const writer = await ZipWriter.create(options.outFile, options.observeZip?.(unzippedBytes) ?? null);
  const pool = new CompressionPool();
  let result: ZipResult;
  try {
    await writeEntries(writer, files, entries, options.outFile, signal, pool);
    throwIfAborted(signal);
    result = await writer.finish();
  } catch (error) {
    // A partial zip is never left where a later step could mistake it for a package.
    await writer.abandon();
    await rm(options.outFile, { force: true });
    if (signal?.aborted) throw new DeployError("CANCELLED", "Packaging was cancelled; nothing was uploaded.");
    if (error instanceof DeployError) throw error;
    throw new DeployError("TOOL_FAILED", `Writing the Lambda package failed: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await pool.close();
  }
  return {
    path: options.outFile,
    sha256Hex: result.sha256.toString("hex"),
    codeSha256: result.sha256.toString("base64"),
    bytes: result.bytes,
    unzippedBytes,
    entries,
  };
}

/**
 * Names what decides a zip's bytes: the writer's format, zlib's version and level, and every
 * entry's name, content hash, size and mode. Two trees with the same key zip to the same
 * bytes on this machine, so a zip built before stands for the tree without being rebuilt.
 */
export function packageCacheKey(entries: readonly PackageEntry[]): string {
  const hash = createHash("sha256").update(
    `vyaparai-zip-v${ZIP_FORMAT_VERSION}\0zlib ${process.versions.zlib}\0level ${DEFAULT_DEFLATE_LEVEL}\0${process.arch}\0`,
  );
  for (const e of entries)
    hash.update(`${e.name}\0${e.sha256}\0${e.size}\0${e.executable ? "755" : "644"}\0`);
  return hash.digest("hex");
}

/** Zips whose writing waits for an upload that needs them: outFile → how to write and check it. */
interface PendingZip {
  options: BuildLambdaPackageOptions;
  sha256Hex: string;
  bytes: number;
  cacheKey: string;
  realBackendDir: string;
  writing?: Promise<void>;
}

const pendingZips = new Map<string, PendingZip>();
/**
 * Deferred packages remembered at once. A no-op deploy never writes its zip, so entries go
 * oldest-first past this; a deploy uploads within seconds of planning, long before that.
 */
const MAX_PENDING_ZIPS = 32;

/** The package the cache stands for, or null when some file or the zip is not known. */
function fromCache(
  cache: HashCache,
  files: SourceFile[],
  options: BuildLambdaPackageOptions,
  unzippedBytes: number,
  realBackendDir: string,
): LambdaPackage | null {
  const entries: PackageEntry[] = [];
  for (const file of files) {
    const known = cache.lookup(file.source, file.stamp, null);
    if (!known) return null;
    entries.push({ name: file.name, sha256: known.sha256, size: file.size, executable: file.executable });
  }
  const cacheKey = packageCacheKey(entries);
  const built = cache.packageFor(cacheKey);
  if (!built) return null;
  pendingZips.delete(options.outFile);
  pendingZips.set(options.outFile, {
    options: {
      ...options,
      deferZip: false,
      onProgress: undefined,
      signal: undefined,
      observeZip: undefined,
      openCache: undefined,
    },
    sha256Hex: built.sha256Hex,
    bytes: built.bytes,
    cacheKey,
    realBackendDir,
  });
  for (const path of pendingZips.keys()) {
    if (pendingZips.size <= MAX_PENDING_ZIPS) break;
    pendingZips.delete(path);
  }
  return {
    path: options.outFile,
    sha256Hex: built.sha256Hex,
    codeSha256: Buffer.from(built.sha256Hex, "hex").toString("base64"),
    bytes: built.bytes,
    unzippedBytes,
    entries,
    deferred: true,
  };
}

/**
 * Makes sure the zip of a package is on disk at `path`: a package the hash cache answered
 * (deferZip) is written now, from the files, and must hash to what was planned — if the tree
 * changed since, or this machine's zlib now deflates differently, nothing is left at `path`
 * and the caller is refused (the cache forgets that zip). Other paths are left as they are.
 */
export async function ensurePackageFile(path: string, signal?: AbortSignal): Promise<void> {
  const pending = pendingZips.get(path);
  if (!pending) return;
  pending.writing ??= writePending(path, pending, signal).finally(() => {
    pending.writing = undefined;
  });
  await pending.writing;
}

async function writePending(path: string, pending: PendingZip, signal: AbortSignal | undefined) {
  const built = await buildLambdaPackage({ ...pending.options, signal });
  if (built.sha256Hex === pending.sha256Hex && built.bytes === pending.bytes) {
    pendingZips.delete(path);
    return;
  }
  await rm(path, { force: true });
  pendingZips.delete(path);
  const cache = await HashCache.open(pending.realBackendDir);
  cache.forgetPackage(pending.cacheKey);
  await cache.save();
  throw new DeployError(
    "PRECONDITION",
    "The backend changed after the plan was made: the package built from it now is not the planned one (another SHA-256), so nothing was uploaded and the function was not changed. Plan again.",
    { detail: { plannedSha256: pending.sha256Hex, builtSha256: built.sha256Hex } },
  );
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
    .map((f) => `${quote(f.name, PATH_CHARS)} (${formatBytes(f.size)})`);
  throw new DeployError(
    "PRECONDITION",
    `The Lambda package would be ${formatBytes(unzippedBytes)} (${unzippedBytes} bytes) unzipped, over Lambda's limit of ${formatBytes(limit)} (${limit} bytes). Remove unneeded dependencies or add exclude patterns under "backend" in deploy.config.json, or move large dependencies to a Lambda layer or container image. The largest files are in largestFiles.`,
    { detail: { unzippedBytes, limitBytes: limit, largestFiles: largest } },
  );
}

/**
 * Lists what goes into the zip: `include` globs relative to the backend dir, plus each
 * dependency dir's content at the zip root (where Python's import path looks), minus
 * `exclude`. Sorted by zip name; a name claimed twice is an error, never a silent pick.
 * The package and the tree check (tree.ts) both use this walk, so they judge the same files.
 */
export async function collectPackageFiles(appRoot: string, backend: BackendConfig): Promise<PackageFiles> {
  const backendDir = resolve(appRoot, backend.dir);
  await assertDirectory(backendDir, `backend.dir "${backend.dir}"`);
  const realBackendDir = await realpath(backendDir);
  await assertInsideAppRoot(appRoot, realBackendDir, backend.dir);
  const files = await collectFiles(backendDir, realBackendDir, backend);
  return { backendDir, realBackendDir, files };
}

/**
 * Safety: what the package holds must be the app repository's own files (the ones git and
 * the preflight see); a backend.dir of "../elsewhere", or a symlink out, would ship another tree.
 */
async function assertInsideAppRoot(
  appRoot: string,
  realBackendDir: string,
  configured: string,
): Promise<void> {
  const realRoot = await realpath(resolve(appRoot));
  if (realBackendDir === realRoot || realBackendDir.startsWith(realRoot + sep)) return;
  // The real path can come from a symlink the repo holds (its text): detail only.
  throw new DeployError(
    "PRECONDITION",
    `backend.dir "${configured}" resolves to a folder outside the app root (both are in detail), so it is not packaged. Set "backend.dir" in deploy.config.json to a folder inside the app repository. Nothing was uploaded.`,
    { detail: { resolvedTo: quote(realBackendDir, PATH_CHARS), appRoot: quote(realRoot, PATH_CHARS) } },
  );
}

async function collectFiles(
  backendDir: string,
  realBackendDir: string,
  backend: BackendConfig,
): Promise<SourceFile[]> {
  const byName = new Map<string, { origin: string; file: SourceFile }>();
  const add = (file: SourceFile, origin: string) => {
    const existing = byName.get(file.name);
    if (existing) {
      throw new DeployError(
        "PRECONDITION",
        `Two files would have the same path in the Lambda zip (the path and both origins are in detail). Rename one, or exclude one under "backend.exclude" in deploy.config.json.`,
        {
          detail: {
            zipPath: quote(file.name, PATH_CHARS),
            origins: [quote(existing.origin, PATH_CHARS), quote(origin, PATH_CHARS)],
          },
        },
      );
    }
    byName.set(file.name, { origin, file });
  };

  const depIgnores = backend.dependencyDirs.map((d) => `${trimSlashes(d)}/**`);
  const candidates: Array<{ root: string; name: string; origin: string; dependencyDir: string | null }> = [];
  const appNames = await glob(backend.include, {
    cwd: backendDir,
    ignore: [...backend.exclude, ...depIgnores],
    onlyFiles: true,
    dot: true,
    followSymbolicLinks: true,
    expandDirectories: false,
  });
  for (const name of appNames) {
    candidates.push({ root: backendDir, name, origin: `the app (${name})`, dependencyDir: null });
  }
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
    for (const name of depNames) {
      candidates.push({
        root: depRoot,
        name,
        origin: `${depDir}/${name}`,
        dependencyDir: trimSlashes(depDir),
      });
    }
  }
  // Thousands of small files: a stat is microseconds, and an async one costs a thread-pool
  // round trip and a promise more than that (describing 2,498 files took ~2-4x longer with 32
  // async stats in flight than synchronously); batches keep the event loop answering between.
  const folders = new Map<string, string>();
  const described: SourceFile[] = [];
  for (let start = 0; start < candidates.length; start += DESCRIBE_BATCH) {
    for (const c of candidates.slice(start, start + DESCRIBE_BATCH)) {
      const file = describeFile(c.root, c.name, realBackendDir, folders);
      described.push(
        c.dependencyDir === null
          ? file
          : { ...file, path: `${c.dependencyDir}/${file.name}`, dependency: true },
      );
    }
    if (start + DESCRIBE_BATCH < candidates.length) await new Promise<void>((r) => setImmediate(r));
  }
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
function describeFile(
  root: string,
  relName: string,
  realBackendDir: string,
  folders: Map<string, string>,
): SourceFile {
  const path = join(root, relName);
  const link = lstatSync(path);
  let source = path;
  let info = link;
  if (link.isSymbolicLink()) {
    let target: string;
    try {
      target = realpathSync(path);
    } catch (error) {
      throw new DeployError(
        "PRECONDITION",
        `A symlink in the backend has no target (its path is in detail.path). Fix or remove it, or exclude it under "backend.exclude". Nothing was uploaded.`,
        { cause: error, detail: { path: quote(relName, PATH_CHARS) } },
      );
    }
    // Safety: a link out of the backend could put any file of the machine (credentials, keys) into the zip.
    if (target !== realBackendDir && !target.startsWith(realBackendDir + sep)) {
      throw new DeployError(
        "PRECONDITION",
        `A symlink in the backend points outside the backend dir ${realBackendDir}, so it is not packaged (the link and its target are in detail). Copy the file into the backend, or exclude the link under "backend.exclude". Nothing was uploaded.`,
        { detail: { path: quote(relName, PATH_CHARS), target: quote(target, PATH_CHARS) } },
      );
    }
    source = target;
    info = statSync(target);
  } else {
    const folder = dirname(path);
    let parent = folders.get(folder);
    if (parent === undefined) {
      parent = realpathSync(folder);
      folders.set(folder, parent);
    }
    // Safety: same rule for files reached through a symlinked directory.
    if (parent !== realBackendDir && !parent.startsWith(realBackendDir + sep)) {
      throw new DeployError(
        "PRECONDITION",
        `A file of the backend is reached through a symlinked folder pointing outside the backend dir ${realBackendDir} (the file is in detail.path). Copy the folder into the backend, or exclude it under "backend.exclude". Nothing was uploaded.`,
        { detail: { path: quote(relName, PATH_CHARS), folder: quote(parent, PATH_CHARS) } },
      );
    }
  }
  assertSingleLink(relName, info.nlink);
  const name = relName.split(sep).join("/");
  return {
    name,
    path: name,
    dependency: false,
    source,
    size: info.size,
    executable: (info.mode & 0o111) !== 0,
    stamp: { size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, dev: info.dev },
  };
}

/**
 * Safety: a hard link is the same content under two names; the other name can sit outside
 * the backend (a key file, another checkout) and change what ships without git seeing it.
 */
function assertSingleLink(relName: string, links: number): void {
  if (links <= 1) return;
  throw new DeployError(
    "PRECONDITION",
    `A file of the backend has ${links} hard links (the file is in detail.path), so its content can change through a path the package and git do not see. Copy the file: replace the link with a plain copy (for installed dependencies, install with copies, e.g. UV_LINK_MODE=copy), or exclude it under "backend.exclude". Nothing was uploaded.`,
    { detail: { path: quote(relName, PATH_CHARS), hardLinks: links } },
  );
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

/**
 * Writes every entry in sorted order. Small files are read, hashed and deflated ahead of the
 * writer on the pool's worker threads, in a bounded window (at most WINDOW_BYTES of content
 * and WINDOW_ENTRIES files in flight): while the main thread writes entry i, entries i+1..
 * are compressing on the other cores. Large files stay out of the window and are streamed
 * when the writer reaches them, so memory stays bounded whatever the package holds.
 */
async function writeEntries(
  writer: ZipWriter,
  files: SourceFile[],
  entries: PackageEntry[],
  outFile: string,
  signal: AbortSignal | undefined,
  pool: CompressionPool,
): Promise<void> {
  const prepared: Array<Promise<PreparedEntry> | undefined> = new Array(files.length);
  const windowCost = (file: SourceFile) => (isLarge(file) ? 0 : file.size);
  let started = 0;
  let windowBytes = 0;
  for (let index = 0; index < files.length; index++) {
    throwIfAborted(signal);
    while (
      started < files.length &&
      (started === index ||
        (started - index < WINDOW_ENTRIES &&
          windowBytes + windowCost(files[started] as SourceFile) <= WINDOW_BYTES))
    ) {
      const file = files[started] as SourceFile;
      if (!isLarge(file)) {
        const task = prepareSmallFile(pool, file);
        // Failures surface when the writer awaits this entry; until then, no unhandled rejection.
        task.catch(() => undefined);
        prepared[started] = task;
      }
      windowBytes += windowCost(file);
      started++;
    }
    const file = files[index] as SourceFile;
    const entry = entries[index] as PackageEntry;
    const task = prepared[index];
    if (task) {
      prepared[index] = undefined;
      const ready = await task;
      entry.sha256 = ready.sha256;
      await writer.addEntry(
        headerFor(file, ready.compressed, ready.compressed.data.length),
        ready.compressed.data,
      );
    } else {
      await writeLargeFile(writer, file, entry, `${outFile}.${index}.deflate.tmp`);
    }
    windowBytes -= windowCost(file);
  }
}

interface PreparedEntry {
  sha256: string;
  compressed: CompressedEntry;
}

function isLarge(file: SourceFile): boolean {
  return file.size > LARGE_FILE_BYTES;
}

async function prepareSmallFile(pool: CompressionPool, file: SourceFile): Promise<PreparedEntry> {
  try {
    const prepared = await pool.prepare(file.source, file.size);
    return { sha256: prepared.sha256, compressed: prepared };
  } catch (error) {
    if (error instanceof FileChangedError) assertUnchanged(file, error.bytesRead);
    throw error;
  }
}

/**
 * A large file is read once: hashed, CRC'd and deflated as a stream into a temp file next to
 * the package, then copied in behind its header (the header needs the compressed size first,
 * and data descriptors are what some readers handle worst). Stored as is when deflate does
 * not shrink it.
 */
async function writeLargeFile(writer: ZipWriter, file: SourceFile, entry: PackageEntry, temp: string) {
  const crc32 = nativeCrc32();
  const hash = createHash("sha256");
  let crc = 0;
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      hash.update(chunk);
      crc = crc32(chunk, crc);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      createReadStream(file.source),
      tap,
      zlib.createDeflateRaw({ level: DEFAULT_DEFLATE_LEVEL }),
      createWriteStream(temp),
    );
    assertUnchanged(file, size);
    entry.sha256 = hash.digest("hex");
    const compressedSize = (await stat(temp)).size;
    const deflated = compressedSize < size;
    const compressed = {
      method: deflated ? METHOD_DEFLATED : METHOD_STORED,
      crc32: crc,
      size,
    } as const;
    await writer.addEntry(
      headerFor(file, compressed, deflated ? compressedSize : size),
      createReadStream(deflated ? temp : file.source),
    );
  } finally {
    await rm(temp, { force: true });
  }
}

function assertUnchanged(file: SourceFile, bytesRead: number): void {
  if (bytesRead !== file.size) {
    throw new DeployError(
      "PRECONDITION",
      `A backend file changed while it was being packaged (${file.size} bytes, then ${bytesRead}; the file is in detail.path). Retry once nothing writes into the backend folder.`,
      { detail: { path: quote(file.name, PATH_CHARS) } },
    );
  }
}

function headerFor(
  file: SourceFile,
  compressed: Pick<CompressedEntry, "method" | "crc32" | "size">,
  compressedSize: number,
): EntryHeader {
  return {
    name: file.name,
    mode: file.executable ? MODE_EXECUTABLE : MODE_PLAIN,
    method: compressed.method,
    crc32: compressed.crc32,
    size: compressed.size,
    compressedSize,
  };
}
