import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { backendSchema } from "../../src/config/schema.js";
import { DeployError } from "../../src/core/errors.js";
import { buildLambdaPackage, checkUnzippedSize, codeSha256ToHex } from "../../src/deploy/lambda/package.js";
import { EXPECTED_FIXTURE_ENTRIES, touchAll, writeBackendFixture } from "../support/backend-fixture.js";

const backend = backendSchema.parse({});

function outFile(): string {
  return join(mkdtempSync(join(tmpdir(), "vyaparai-pkg-")), "package.zip");
}

interface ListingLine {
  mode: string;
  system: string;
  method: string;
  time: string;
  name: string;
}

/**
 * `unzip -Z` (zipinfo) lines, e.g. `-rw-r--r--  2.0 unx  6482 b- defN 80-Jan-01 00:00 app/x.py`.
 * Reads the zip with a tool other than ours.
 */
function zipListing(path: string): ListingLine[] {
  const text = execFileSync("unzip", ["-Z", path], { encoding: "utf8" });
  return text
    .split("\n")
    .filter((line) => /^[-d]r/.test(line))
    .map((line) => {
      const parts = line.trim().split(/\s+/);
      return {
        mode: parts[0] as string,
        system: parts[2] as string,
        method: parts[5] as string,
        time: `${parts[6]} ${parts[7]}`,
        name: parts.slice(8).join(" "),
      };
    });
}

describe("buildLambdaPackage", () => {
  it("packages app files and dependency content at the root, sorted, without caches", async () => {
    const { appRoot } = writeBackendFixture();
    const pkg = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    expect(pkg.entries.map((e) => e.name)).toEqual(EXPECTED_FIXTURE_ENTRIES);
    const listing = zipListing(pkg.path);
    expect(listing.map((l) => l.name)).toEqual(EXPECTED_FIXTURE_ENTRIES);
    expect(listing.find((l) => l.name === "bin/uvicorn")?.mode).toBe("-rwxr-xr-x");
    expect(listing.find((l) => l.name === "app/main.py")?.mode).toBe("-rw-r--r--");
    const bytes = readFileSync(pkg.path);
    expect(pkg.bytes).toBe(bytes.length);
    const { createHash } = await import("node:crypto");
    expect(pkg.sha256Hex).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(codeSha256ToHex(pkg.codeSha256)).toBe(pkg.sha256Hex);
    const main = pkg.entries.find((e) => e.name === "app/main.py");
    expect(main?.sha256).toBe(
      createHash("sha256")
        .update(readFileSync(join(appRoot, "backend/app/main.py")))
        .digest("hex"),
    );
    // The unzip tool accepts the archive and extracts the exact content.
    const extracted = execFileSync("unzip", ["-p", pkg.path, "mangum/adapter.py"], { encoding: "utf8" });
    expect(extracted).toBe("class Mangum: ...\n");
    execFileSync("unzip", ["-tq", pkg.path]);
  });

  it("gives a byte-identical zip for the same tree whatever the mtimes", async () => {
    const { appRoot, files } = writeBackendFixture();
    touchAll(appRoot, files, new Date("2020-05-05T10:00:00Z"));
    const first = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    touchAll(appRoot, files, new Date("2026-11-25T03:33:33Z"));
    const second = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    expect(second.sha256Hex).toBe(first.sha256Hex);
    expect(readFileSync(second.path).equals(readFileSync(first.path))).toBe(true);
    // A different tree at a different place gives a different hash.
    const other = writeBackendFixture({ variant: "v2" });
    const third = await buildLambdaPackage({ appRoot: other.appRoot, backend, outFile: outFile() });
    expect(third.sha256Hex).not.toBe(first.sha256Hex);
  });

  it("stays identical and valid with many files and large streamed ones (deflated and stored)", async () => {
    const { appRoot, files } = writeBackendFixture({ extraDependencyFiles: 150, extraDependencyBytes: 2048 });
    mkdirSync(join(appRoot, "backend/lambda_deps/native"), { recursive: true });
    // Over the packager's 8 MiB in-memory limit: both go through the streamed path.
    const big = join(appRoot, "backend/lambda_deps/native/libbig.so");
    writeFileSync(big, Buffer.alloc(9 * 1024 * 1024, 7));
    chmodSync(big, 0o755);
    const noisy = join(appRoot, "backend/lambda_deps/native/weights.bin");
    writeFileSync(noisy, randomBytes(9 * 1024 * 1024));
    touchAll(appRoot, files, new Date("2021-01-01T00:00:00Z"));
    const first = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    touchAll(appRoot, files, new Date("2025-06-01T00:00:00Z"));
    const second = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    expect(second.sha256Hex).toBe(first.sha256Hex);
    expect(first.entries).toHaveLength(EXPECTED_FIXTURE_ENTRIES.length + 152);
    execFileSync("unzip", ["-tq", first.path]);
    const { createHash } = await import("node:crypto");
    expect(first.entries.find((e) => e.name === "native/libbig.so")?.sha256).toBe(
      createHash("sha256").update(readFileSync(big)).digest("hex"),
    );
    expect(first.entries.find((e) => e.name === "native/weights.bin")?.sha256).toBe(
      createHash("sha256").update(readFileSync(noisy)).digest("hex"),
    );
    const listing = zipListing(first.path);
    expect(listing.find((l) => l.name === "native/libbig.so")).toMatchObject({
      mode: "-rwxr-xr-x",
      method: "defN",
    });
    // Random bytes do not deflate: stored, as zip does.
    expect(listing.find((l) => l.name === "native/weights.bin")?.method).toBe("stor");
    const extracted = execFileSync("unzip", ["-p", first.path, "native/weights.bin"], {
      maxBuffer: 32 * 1024 * 1024,
    });
    expect(extracted.equals(readFileSync(noisy))).toBe(true);
    // No temp files left next to the package.
    expect(readdirSync(dirname(first.path))).toEqual(["package.zip"]);
  });

  it("writes a zip that unzip -t accepts and unzip -Z lists with fixed times and Unix modes", async () => {
    const { appRoot } = writeBackendFixture();
    const pkg = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    const test = execFileSync("unzip", ["-t", pkg.path], { encoding: "utf8" });
    expect(test).toMatch(/No errors detected in compressed data/);
    const listing = zipListing(pkg.path);
    expect(listing).toHaveLength(EXPECTED_FIXTURE_ENTRIES.length);
    for (const line of listing) {
      expect(line.system).toBe("unx");
      expect(line.time).toBe("80-Jan-01 00:00");
      expect(["-rw-r--r--", "-rwxr-xr-x"]).toContain(line.mode);
    }
  });

  it("gives the same bytes whatever the machine's timezone", async () => {
    const { appRoot } = writeBackendFixture();
    const saved = process.env.TZ;
    try {
      process.env.TZ = "UTC";
      const utc = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
      process.env.TZ = "Pacific/Kiritimati";
      const ahead = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
      process.env.TZ = "America/Los_Angeles";
      const behind = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
      expect(ahead.sha256Hex).toBe(utc.sha256Hex);
      expect(behind.sha256Hex).toBe(utc.sha256Hex);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it("stops when cancelled and leaves no partial zip", async () => {
    const { appRoot } = writeBackendFixture({ extraDependencyFiles: 50, extraDependencyBytes: 1024 });
    const controller = new AbortController();
    const out = outFile();
    const error = await buildLambdaPackage({
      appRoot,
      backend,
      outFile: out,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeployError);
    expect((error as DeployError).code).toBe("CANCELLED");
    expect(existsSync(out)).toBe(false);
  });

  it("refuses a name claimed by both the app and a dependency", async () => {
    const { appRoot } = writeBackendFixture();
    writeFileSync(join(appRoot, "backend/lambda_deps/lambda_handler.py"), "shadow\n");
    const error = (await buildLambdaPackage({ appRoot, backend, outFile: outFile() }).catch(
      (e: unknown) => e,
    )) as DeployError;
    expect(error.message).toMatch(/Two files would have the same path in the Lambda zip/);
    // File names are the repo's text: they are in the detail, not the message.
    expect(error.detail).toMatchObject({ zipPath: "lambda_handler.py" });
    expect(JSON.stringify(error.detail?.origins)).toMatch(/lambda_deps\/lambda_handler\.py/);
  });

  it("stores an in-tree symlink as the target's content and refuses one leaving the backend", async () => {
    const { appRoot } = writeBackendFixture();
    symlinkSync("main.py", join(appRoot, "backend/app/alias.py"));
    const pkg = await buildLambdaPackage({ appRoot, backend, outFile: outFile() });
    const alias = pkg.entries.find((e) => e.name === "app/alias.py");
    expect(alias?.sha256).toBe(pkg.entries.find((e) => e.name === "app/main.py")?.sha256);
    expect(execFileSync("unzip", ["-p", pkg.path, "app/alias.py"], { encoding: "utf8" })).toContain(
      "def handle",
    );

    const secret = join(mkdtempSync(join(tmpdir(), "vyaparai-secret-")), "credentials");
    writeFileSync(secret, "aws_secret_access_key=x\n");
    symlinkSync(secret, join(appRoot, "backend/app/creds.py"));
    const error = (await buildLambdaPackage({ appRoot, backend, outFile: outFile() }).catch(
      (e: unknown) => e,
    )) as DeployError;
    expect(error.message).toMatch(/A symlink in the backend points outside the backend dir/);
    expect(error.detail).toMatchObject({ path: "app/creds.py", target: secret });
  });

  it("refuses a package over the unzipped limit with the numbers", async () => {
    const { appRoot } = writeBackendFixture();
    const error = await buildLambdaPackage({
      appRoot,
      backend,
      outFile: outFile(),
      maxUnzippedBytes: 1000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeployError);
    expect((error as DeployError).message).toMatch(
      /bytes\) unzipped, over Lambda's limit of .*\(1000 bytes\)/,
    );
    expect((error as DeployError).detail?.largestFiles).toContainEqual(
      expect.stringMatching(/^pydantic\/main\.py/),
    );
    expect(() => checkUnzippedSize(262_144_001, 262_144_000)).toThrow(/250\.0 MB \(262144000 bytes\)/);
    expect(() => checkUnzippedSize(262_144_000, 262_144_000)).not.toThrow();
  });

  it("says which folder is missing", async () => {
    const appRoot = mkdtempSync(join(tmpdir(), "vyaparai-empty-"));
    await expect(buildLambdaPackage({ appRoot, backend, outFile: outFile() })).rejects.toThrow(
      /backend\.dir "backend".*is not a folder/,
    );
  });
});
