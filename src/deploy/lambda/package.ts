import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, realpath, rm, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import pLimit from "p-limit";
import { glob } from "tinyglobby";
import type { BackendConfig } from "../../config/schema.js";
import { DeployError, throwIfAborted } from "../../core/errors.js";
import { quote } from "../../core/quote.js";
import {
  type CompressedEntry,
  CompressionPool,
  DEFAULT_DEFLATE_LEVEL,
  type EntryHeader,
  FileChangedError,
  METHOD_DEFLATED,
  METHOD_STORED,
  nativeCrc32,
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
  const { backendDir, files } = await collectPackageFiles(options.appRoot, backend);
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
  const entries: PackageEntry[] = files.map((f) => ({
    name: f.name,
    sha256: "",
    size: f.size,
    executable: f.executable,
  }));
  const writer = await ZipWriter.create(options.outFile);
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
  // Thousands of small files: one await per syscall in sequence costs more than the zipping.
  const limit = pLimit(32);
  const folders = new Map<string, Promise<string>>();
  const described = await Promise.all(
    candidates.map((c) =>
      limit(async () => {
        const file = await describeFile(c.root, c.name, realBackendDir, folders);
        return c.dependencyDir === null
          ? file
          : { ...file, path: `${c.dependencyDir}/${file.name}`, dependency: true };
      }),
    ),
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
