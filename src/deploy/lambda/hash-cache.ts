import { createHash, randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { stateHome } from "../../core/state-home.js";

/**
 * A local cache of file digests for the backend tree, so deploy_lambda on an unchanged tree
 * (the tree check against git HEAD, the package decision) does not read 35 MB again:
 *
 *   <XDG_STATE_HOME or ~/.local/state>/vyaparai-deploy/hash-cache/<backend dir key>.json
 *
 * folders 0700, the file 0600. One file per backend folder (its real path, hashed), holding
 * for every file the tree had at the last run: its stamp (size, mtime, ctime, inode, device)
 * and the digests read from it (content SHA-256, git blob ids), plus the SHA-256 of the last
 * few zips built from exactly those contents (`packages`).
 *
 * Safety: a digest is used only when all of the stamp matches what `stat` says now; any
 * change to the file (a write moves mtime and ctime; a replacement moves the inode; even a
 * `touch -d` that puts mtime back moves ctime) means a new read. A digest is kept only for a
 * file whose mtime and ctime were at least RACY_MARGIN_MS old when it was read, so a write in
 * the same timestamp tick as the read (git's "racily clean" case) cannot hide behind an old
 * stamp. A cache file that is not a private regular file of this user, cannot be parsed or
 * has another shape is ignored (and replaced at the next save). The cache only ever skips
 * reading to *decide*: a zip that is uploaded is built from the files and checked against
 * the planned hash (package.ts ensurePackageFile, artifact.ts).
 */

/** What `stat` says about one version of a file, compared whole. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

export type BlobAlgorithm = "sha1" | "sha256";

export interface CachedDigests {
  /** SHA-256 (hex) of the content. */
  sha256: string;
  /** git blob ids (hex) by object format, when the tree check computed them. */
  blob: Partial<Record<BlobAlgorithm, string>>;
}

/** A zip built from an exact set of entries (packageCacheKey in package.ts). */
export interface CachedPackage {
  sha256Hex: string;
  bytes: number;
}

const FORMAT = "vyaparai-hash-cache-v1";
/** Files whose mtime or ctime is younger than this at the read are not cached (see above). */
export const RACY_MARGIN_MS = 3_000;
/** Zips remembered per backend folder: the live one and a few before it. */
const MAX_PACKAGES = 4;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX40 = /^[0-9a-f]{40}$/;

/** [size, mtimeMs, ctimeMs, ino, dev, sha256, blob sha1 | null, blob sha256 | null] */
type FileRow = [number, number, number, number, number, string, string | null, string | null];

interface CacheFile {
  format: typeof FORMAT;
  root: string;
  files: Record<string, FileRow>;
  packages: Array<{ key: string } & CachedPackage>;
}

/** Where the cache of one backend folder lives, and the folders above it that must be private. */
export function hashCachePath(
  realBackendDir: string,
  home = stateHome(),
): { file: string; levels: string[] } {
  const key = createHash("sha256").update(realBackendDir).digest("hex").slice(0, 32);
  const base = join(home, "vyaparai-deploy");
  const dir = join(base, "hash-cache");
  return { file: join(dir, `${key}.json`), levels: [base, dir] };
}

export interface HashCacheOptions {
  /** State folder; the user's own by default. */
  home?: string;
  /** Clock for the racy-stamp rule (tests). */
  now?: () => number;
}

/** Opens the cache of a backend folder; sharedHashCache gives every caller the same instance. */
export type HashCacheOpener = (realBackendDir: string) => Promise<HashCache>;

/**
 * One cache instance for the walks of one call: the tree check and the packager run at once
 * over the same folder, and two instances would each save only what they saw — the last save
 * dropping the other's files and the package it built.
 */
export function sharedHashCache(options: HashCacheOptions = {}): HashCacheOpener {
  const opened = new Map<string, Promise<HashCache>>();
  return (realBackendDir) => {
    let cache = opened.get(realBackendDir);
    if (!cache) {
      cache = HashCache.open(realBackendDir, options);
      opened.set(realBackendDir, cache);
    }
    return cache;
  };
}

export class HashCache {
  /** Hits and misses of `lookup` in this session (tests, progress). */
  hits = 0;
  misses = 0;
  private readonly seen = new Map<string, FileRow>();
  private changed = false;
  /** Saves run one after another, each writing what is known when its turn comes. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly root: string,
    private readonly location: { file: string; levels: string[] } | null,
    private readonly stored: Map<string, FileRow>,
    private packages: CacheFile["packages"],
    /** When this session started: reads after it are judged against it. */
    private readonly openedAt: number,
  ) {}

  /**
   * Loads the cache of `realBackendDir`. Never throws: an unusable state folder or cache
   * file gives an empty cache (a folder not private to this user gives one that never saves).
   */
  static async open(realBackendDir: string, options: HashCacheOptions = {}): Promise<HashCache> {
    const openedAt = (options.now ?? Date.now)();
    const location = hashCachePath(realBackendDir, options.home ?? stateHome());
    const usable = await privateFolders(location.levels);
    if (!usable) return new HashCache(realBackendDir, null, new Map(), [], openedAt);
    const parsed = await readCacheFile(location.file, realBackendDir);
    return new HashCache(
      realBackendDir,
      location,
      new Map(Object.entries(parsed?.files ?? {})),
      parsed?.packages ?? [],
      openedAt,
    );
  }

  /** An empty cache that never reads or writes a file (callers that want none). */
  static disabled(realBackendDir = ""): HashCache {
    return new HashCache(realBackendDir, null, new Map(), [], Date.now());
  }

  /**
   * The digests of `path` when its stamp is exactly the one they were read at (and, with
   * `blob`, the git blob id of that object format is known too); null otherwise.
   */
  lookup(path: string, stamp: FileStamp, blob: BlobAlgorithm | null): CachedDigests | null {
    const row = this.seen.get(path) ?? this.stored.get(path);
    if (!row || !sameStamp(row, stamp)) {
      this.misses++;
      return null;
    }
    const digests = digestsOf(row);
    if (blob && !digests.blob[blob]) {
      this.misses++;
      return null;
    }
    this.hits++;
    if (!this.seen.has(path)) this.seen.set(path, row);
    return digests;
  }

  /**
   * Remembers what was read from `path` at `stamp` (merged with blob ids known for the same
   * stamp). A file modified within RACY_MARGIN_MS of this session's start is not remembered.
   */
  record(path: string, stamp: FileStamp, digests: CachedDigests): void {
    if (Math.max(stamp.mtimeMs, stamp.ctimeMs) > this.openedAt - RACY_MARGIN_MS) return;
    const previous = this.seen.get(path) ?? this.stored.get(path);
    const known = previous && sameStamp(previous, stamp) && previous[5] === digests.sha256;
    const sha1 = digests.blob.sha1 ?? (known ? previous[6] : null);
    const sha256 = digests.blob.sha256 ?? (known ? previous[7] : null);
    const row: FileRow = [
      stamp.size,
      stamp.mtimeMs,
      stamp.ctimeMs,
      stamp.ino,
      stamp.dev,
      digests.sha256,
      sha1,
      sha256,
    ];
    if (!previous || previous.some((value, i) => value !== row[i])) this.changed = true;
    this.seen.set(path, row);
  }

  /** The zip built from the entries `key` names, when one was built here before. */
  packageFor(key: string): CachedPackage | null {
    const found = this.packages.find((p) => p.key === key);
    return found ? { sha256Hex: found.sha256Hex, bytes: found.bytes } : null;
  }

  recordPackage(key: string, built: CachedPackage): void {
    const rest = this.packages.filter((p) => p.key !== key);
    this.packages = [{ key, ...built }, ...rest].slice(0, MAX_PACKAGES);
    this.changed = true;
  }

  forgetPackage(key: string): void {
    const rest = this.packages.filter((p) => p.key !== key);
    if (rest.length !== this.packages.length) this.changed = true;
    this.packages = rest;
  }

  /**
   * Writes the files seen in this session (a file no longer in the tree is dropped) and the
   * package records, atomically, mode 0600. Never throws: a cache that cannot be written is
   * only slower next time.
   */
  save(): Promise<void> {
    // One instance may serve two walks at once (the tree check and the packager, see
    // sharedHashCache): a later save must never be overtaken by an earlier, smaller one.
    this.saving = this.saving.then(() => this.write());
    return this.saving;
  }

  private async write(): Promise<void> {
    if (!this.location) return;
    if (!this.changed && this.seen.size === this.stored.size) return;
    const body: CacheFile = {
      format: FORMAT,
      root: this.root,
      files: Object.fromEntries(this.seen),
      packages: this.packages,
    };
    const temp = `${this.location.file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      // wx: a new file made here, never an existing one or a link someone prepared.
      const handle = await open(temp, "wx", 0o600);
      try {
        await handle.writeFile(JSON.stringify(body));
      } finally {
        await handle.close();
      }
      await rename(temp, this.location.file);
      this.changed = false;
    } catch {
      await rm(temp, { force: true }).catch(() => {});
    }
  }
}

function sameStamp(row: FileRow, stamp: FileStamp): boolean {
  return (
    row[0] === stamp.size &&
    row[1] === stamp.mtimeMs &&
    row[2] === stamp.ctimeMs &&
    row[3] === stamp.ino &&
    row[4] === stamp.dev
  );
}

function digestsOf(row: FileRow): CachedDigests {
  const blob: CachedDigests["blob"] = {};
  if (row[6]) blob.sha1 = row[6];
  if (row[7]) blob.sha256 = row[7];
  return { sha256: row[5], blob };
}

/**
 * Creates the folders 0700 and checks each is a real folder of this user (group/other bits
 * someone's umask left are taken away). False when that cannot be had: no cache then.
 */
async function privateFolders(levels: string[]): Promise<boolean> {
  try {
    await mkdir(levels[levels.length - 1] as string, { recursive: true, mode: 0o700 });
    for (const level of levels) {
      const info = await lstat(level);
      if (!info.isDirectory() || !ownedByMe(info.uid)) return false;
      if (notPrivate(info.mode)) await chmod(level, 0o700);
    }
    return true;
  } catch {
    return false;
  }
}

function ownedByMe(uid: number): boolean {
  return typeof process.getuid !== "function" || uid === process.getuid();
}

/** Group or other may write or read it (Windows has no such mode bits: its ACLs decide). */
function notPrivate(mode: number): boolean {
  return process.platform !== "win32" && (mode & 0o077) !== 0;
}

/** The cache file when it is a private regular file of this user with the expected shape. */
async function readCacheFile(path: string, root: string): Promise<CacheFile | null> {
  try {
    const info = await lstat(path);
    if (!info.isFile() || !ownedByMe(info.uid) || notPrivate(info.mode)) return null;
    const parsed = JSON.parse(await readFile(path, "utf8")) as unknown;
    return isCacheFile(parsed, root) ? parsed : null;
  } catch {
    return null;
  }
}

function isCacheFile(value: unknown, root: string): value is CacheFile {
  const file = value as Partial<CacheFile> | null;
  if (typeof file !== "object" || file === null) return false;
  if (file.format !== FORMAT || file.root !== root) return false;
  if (typeof file.files !== "object" || file.files === null || Array.isArray(file.files)) return false;
  if (!Array.isArray(file.packages)) return false;
  for (const row of Object.values(file.files)) if (!isFileRow(row)) return false;
  return file.packages.every(
    (p) =>
      typeof p === "object" &&
      p !== null &&
      typeof p.key === "string" &&
      HEX64.test(p.key) &&
      typeof p.sha256Hex === "string" &&
      HEX64.test(p.sha256Hex) &&
      Number.isSafeInteger(p.bytes),
  );
}

function isFileRow(row: unknown): row is FileRow {
  if (!Array.isArray(row) || row.length !== 8) return false;
  const [size, mtime, ctime, ino, dev, sha256, sha1, blob256] = row as unknown[];
  return (
    [size, mtime, ctime, ino, dev].every((n) => typeof n === "number" && Number.isFinite(n)) &&
    typeof sha256 === "string" &&
    HEX64.test(sha256) &&
    (sha1 === null || (typeof sha1 === "string" && HEX40.test(sha1))) &&
    (blob256 === null || (typeof blob256 === "string" && HEX64.test(blob256)))
  );
}
