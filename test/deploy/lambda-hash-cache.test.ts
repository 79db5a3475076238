import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { backendSchema } from "../../src/config/schema.js";
import { DeployError } from "../../src/core/errors.js";
import { runCommand } from "../../src/core/run-command.js";
import {
  type FileStamp,
  HashCache,
  hashCachePath,
  RACY_MARGIN_MS,
} from "../../src/deploy/lambda/hash-cache.js";
import { buildLambdaPackage, ensurePackageFile } from "../../src/deploy/lambda/package.js";
import { inspectPackagedTree } from "../../src/deploy/lambda/tree.js";
import { writeBackendFixture } from "../support/backend-fixture.js";

/**
 * The local hash cache of the backend tree: a digest is taken from it only for the exact
 * stamp (size, mtime, ctime, inode, device) it was read at, so the tree check and the package
 * decision on an unchanged tree read no file content, and anything else is read again.
 */

// Every readFile of the product goes through here, so a test can see which files were read.
const reads = vi.hoisted(() => ({ paths: [] as string[] }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  const readFile = ((path: unknown, ...rest: unknown[]) => {
    reads.paths.push(String(path));
    return (actual.readFile as (...args: unknown[]) => Promise<unknown>)(path, ...rest);
  }) as typeof actual.readFile;
  return { ...actual, readFile, default: { ...actual, readFile } };
});

const backend = backendSchema.parse({});

function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function outFile(): string {
  return join(mkdtempSync(join(tmpdir(), "vyaparai-cache-pkg-")), "package.zip");
}

function stampOf(path: string): FileStamp {
  const info = statSync(path);
  return { size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino, dev: info.dev };
}

/** Files of `appRoot`'s backend that the product read since `mark`. */
function backendReads(appRoot: string, mark: number): string[] {
  return reads.paths.slice(mark).filter((path) => path.includes(join(appRoot, "backend")));
}

/** Past the racy margin: files written before this count as settled, as a checkout's are. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, RACY_MARGIN_MS + 200));
}

describe("HashCache", () => {
  const digests = { sha256: sha256("a"), blob: { sha1: "a".repeat(40) } };

  function fileWithStamp(): { root: string; path: string; stamp: FileStamp } {
    const root = mkdtempSync(join(tmpdir(), "vyaparai-cache-root-"));
    const path = join(root, "x.py");
    writeFileSync(path, "a");
    return { root, path, stamp: stampOf(path) };
  }

  /** A cache session that sees every file as settled. */
  const later = { now: () => Date.now() + 60_000 };

  it("answers only for the exact stamp the digest was read at", async () => {
    const { root, path, stamp } = fileWithStamp();
    const first = await HashCache.open(root, later);
    expect(first.lookup(path, stamp, null)).toBeNull();
    first.record(path, stamp, digests);
    await first.save();

    const again = await HashCache.open(root, later);
    expect(again.lookup(path, stamp, null)).toEqual(digests);
    expect(again.lookup(path, stamp, "sha1")).toEqual(digests);
    // Another object format's blob id was never computed: read again.
    expect(again.lookup(path, stamp, "sha256")).toBeNull();
    for (const changed of [
      { size: stamp.size + 1 },
      { mtimeMs: stamp.mtimeMs + 1 },
      { ctimeMs: stamp.ctimeMs + 1 },
      { ino: stamp.ino + 1 },
      { dev: stamp.dev + 1 },
    ]) {
      expect(again.lookup(path, { ...stamp, ...changed }, null), JSON.stringify(changed)).toBeNull();
    }
    expect(again.lookup(join(root, "other.py"), stamp, null)).toBeNull();
  });

  it("keeps no digest of a file changed within the racy margin of the read", async () => {
    const { root, path, stamp } = fileWithStamp();
    const cache = await HashCache.open(root, { now: () => stamp.mtimeMs + RACY_MARGIN_MS / 2 });
    cache.record(path, stamp, digests);
    await cache.save();
    expect((await HashCache.open(root, later)).lookup(path, stamp, null)).toBeNull();
  });

  it("is private to the user: folders 0700, the file 0600", async () => {
    const { root, path, stamp } = fileWithStamp();
    const cache = await HashCache.open(root, later);
    cache.record(path, stamp, digests);
    await cache.save();
    const { file, levels } = hashCachePath(root);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    for (const level of levels) expect(statSync(level).mode & 0o777).toBe(0o700);
    // Under the test's own state folder, never the user's.
    expect(file.startsWith(process.env.XDG_STATE_HOME as string)).toBe(true);
  });

  it("ignores a corrupt cache file, or one others may write, and replaces it", async () => {
    const { root, path, stamp } = fileWithStamp();
    const cache = await HashCache.open(root, later);
    cache.record(path, stamp, digests);
    await cache.save();
    const { file } = hashCachePath(root);
    const valid = readFileSync(file);

    for (const garbage of ["{not json", "[]", JSON.stringify({ format: "other" }), ""]) {
      writeFileSync(file, garbage);
      const corrupt = await HashCache.open(root, later);
      expect(corrupt.lookup(path, stamp, null), garbage).toBeNull();
    }
    // A row with a wrong shape makes the whole file untrusted.
    const parsed = JSON.parse(valid.toString("utf8"));
    parsed.files[path][5] = "not-a-sha256";
    writeFileSync(file, JSON.stringify(parsed));
    expect((await HashCache.open(root, later)).lookup(path, stamp, null)).toBeNull();

    // Group- or world-writable: someone else could have written it.
    writeFileSync(file, valid);
    chmodSync(file, 0o666);
    const loose = await HashCache.open(root, later);
    expect(loose.lookup(path, stamp, null)).toBeNull();
    loose.record(path, stamp, digests);
    await loose.save();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await HashCache.open(root, later)).lookup(path, stamp, null)).toEqual(digests);
  });
});

describe("the tree check and the package with the hash cache", () => {
  // Fixtures written once and left to settle past the racy margin, as a real checkout is.
  let treeApp: string;
  let packageApp: string;
  let staleApp: string;
  let plainApp: string;

  beforeAll(async () => {
    treeApp = writeBackendFixture({ commit: true }).appRoot;
    packageApp = writeBackendFixture({ commit: true }).appRoot;
    staleApp = writeBackendFixture({ commit: true }).appRoot;
    plainApp = writeBackendFixture({ commit: true }).appRoot;
    await settle();
  }, 30_000);

  it("reads no file of an unchanged tree the second time, and re-reads exactly what changed", async () => {
    const inspect = () => inspectPackagedTree({ appRoot: treeApp, backend, run: runCommand });
    let mark = reads.paths.length;
    const first = await inspect();
    expect(first.problems).toEqual([]);
    expect(backendReads(treeApp, mark)).toHaveLength(first.files);

    mark = reads.paths.length;
    const second = await inspect();
    expect(backendReads(treeApp, mark)).toEqual([]);
    expect(second.digest).toBe(first.digest);

    // New mtime, same bytes: read again, same digest.
    const main = join(treeApp, "backend/app/main.py");
    utimesSync(main, new Date("2024-01-01T00:00:00Z"), new Date("2024-01-01T00:00:00Z"));
    mark = reads.paths.length;
    const touched = await inspect();
    expect(backendReads(treeApp, mark)).toEqual([main]);
    expect(touched.digest).toBe(first.digest);

    // Same size, other bytes, mtime put back by hand: ctime gives it away; the edit is seen.
    const before = statSync(main);
    writeFileSync(main, readFileSync(main, "utf8").replace("200", "500"));
    utimesSync(main, before.atime, before.mtime);
    expect(statSync(main).size).toBe(before.size);
    mark = reads.paths.length;
    const edited = await inspect();
    expect(backendReads(treeApp, mark)).toEqual([main]);
    expect(edited.digest).not.toBe(first.digest);
    expect(edited.problems.map((p) => [p.kind, p.path])).toEqual([["modified", "backend/app/main.py"]]);

    // hashCache: false reads everything, whatever the cache holds.
    mark = reads.paths.length;
    await inspectPackagedTree({ appRoot: treeApp, backend, run: runCommand, hashCache: false });
    expect(backendReads(treeApp, mark)).toHaveLength(first.files);
  });

  it("answers the package of an unchanged tree from the cache; its zip is written only when needed, byte for byte", async () => {
    const built = await buildLambdaPackage({
      appRoot: packageApp,
      backend,
      outFile: outFile(),
      deferZip: true,
    });
    expect(built.deferred).toBeUndefined();
    const zip = readFileSync(built.path);
    expect(sha256(zip)).toBe(built.sha256Hex);

    const target = outFile();
    const known = await buildLambdaPackage({ appRoot: packageApp, backend, outFile: target, deferZip: true });
    expect(known.deferred).toBe(true);
    expect(existsSync(target)).toBe(false);
    expect(known).toMatchObject({
      sha256Hex: built.sha256Hex,
      codeSha256: built.codeSha256,
      bytes: built.bytes,
      unzippedBytes: built.unzippedBytes,
      entries: built.entries,
    });

    await ensurePackageFile(target);
    expect(readFileSync(target).equals(zip)).toBe(true);
    // Written once: a second call leaves it as it is.
    await ensurePackageFile(target);
    expect(readFileSync(target).equals(zip)).toBe(true);

    // A changed file is packaged from the files, into another zip.
    const handler = join(packageApp, "backend/lambda_handler.py");
    writeFileSync(handler, `${readFileSync(handler, "utf8")}# changed\n`);
    const changed = await buildLambdaPackage({
      appRoot: packageApp,
      backend,
      outFile: outFile(),
      deferZip: true,
    });
    expect(changed.deferred).toBeUndefined();
    expect(changed.sha256Hex).not.toBe(built.sha256Hex);
    expect(sha256(readFileSync(changed.path))).toBe(changed.sha256Hex);
  });

  it("refuses to write a deferred zip once the tree changed, and leaves no file", async () => {
    await buildLambdaPackage({ appRoot: staleApp, backend, outFile: outFile(), deferZip: true });
    const target = outFile();
    const planned = await buildLambdaPackage({ appRoot: staleApp, backend, outFile: target, deferZip: true });
    expect(planned.deferred).toBe(true);
    const dep = join(staleApp, "backend/lambda_deps/mangum/adapter.py");
    writeFileSync(dep, "class Mangum: pass  # swapped after the plan\n");
    const error = await ensurePackageFile(target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeployError);
    expect((error as DeployError).code).toBe("PRECONDITION");
    expect((error as DeployError).message).toMatch(/changed after the plan was made/);
    expect(existsSync(target)).toBe(false);
  });

  it("without deferZip always writes the zip and keeps no cache", async () => {
    for (let i = 0; i < 2; i++) {
      const pkg = await buildLambdaPackage({ appRoot: plainApp, backend, outFile: outFile() });
      expect(pkg.deferred).toBeUndefined();
      expect(sha256(readFileSync(pkg.path))).toBe(pkg.sha256Hex);
    }
    const { file } = hashCachePath(realpathSync(join(plainApp, "backend")));
    expect(existsSync(file)).toBe(false);
  });
});
