import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32, inflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  CompressionPool,
  compressEntry,
  FileChangedError,
  METHOD_DEFLATED,
  METHOD_STORED,
  ZipWriter,
} from "../../src/deploy/lambda/zip-writer.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "vyaparai-zipw-"));
}

const LOCAL_HEADER = 0x04034b50;
const ZIP64_END = Buffer.from([0x50, 0x4b, 0x06, 0x06]);

async function writeZip(path: string, files: Array<{ name: string; mode: number; content: Buffer }>) {
  const writer = await ZipWriter.create(path);
  for (const file of files) {
    const entry = await compressEntry(file.content);
    await writer.addEntry(
      {
        name: file.name,
        mode: file.mode,
        method: entry.method,
        crc32: entry.crc32,
        size: entry.size,
        compressedSize: entry.data.length,
      },
      entry.data,
    );
  }
  return writer.finish();
}

describe("ZipWriter", () => {
  it("writes a zip that unzip tests, lists and extracts, with fixed times and Unix modes", async () => {
    const path = join(tempDir(), "a.zip");
    const text = Buffer.from("print('hello')\n".repeat(100));
    const noise = randomBytes(4096);
    const result = await writeZip(path, [
      { name: "app/main.py", mode: 0o100644, content: text },
      { name: "bin/tool", mode: 0o100755, content: Buffer.from("#!/bin/sh\necho hi\n") },
      { name: "data/empty.txt", mode: 0o100644, content: Buffer.alloc(0) },
      { name: "data/noise.bin", mode: 0o100644, content: noise },
      { name: "données/é.txt", mode: 0o100644, content: Buffer.from("utf8 name\n") },
    ]);
    const bytes = readFileSync(path);
    expect(result.bytes).toBe(bytes.length);
    expect(result.sha256.equals(createHash("sha256").update(bytes).digest())).toBe(true);
    expect(result.entries).toBe(5);

    execFileSync("unzip", ["-tq", path]);
    const listing = execFileSync("unzip", ["-Z", path], { encoding: "utf8" });
    expect(listing).toMatch(/-rw-r--r-- .* defN 80-Jan-01 00:00 app\/main\.py/);
    expect(listing).toMatch(/-rwxr-xr-x .* 80-Jan-01 00:00 bin\/tool/);
    // Deflate cannot shrink random bytes or nothing: those are stored.
    expect(listing).toMatch(/stor 80-Jan-01 00:00 data\/noise\.bin/);
    expect(listing).toMatch(/stor 80-Jan-01 00:00 data\/empty\.txt/);
    expect(execFileSync("unzip", ["-p", path, "app/main.py"]).equals(text)).toBe(true);
    expect(execFileSync("unzip", ["-p", path, "data/noise.bin"]).equals(noise)).toBe(true);
    expect(execFileSync("unzip", ["-p", path, "données/é.txt"], { encoding: "utf8" })).toBe("utf8 name\n");

    // Sizes are in the local header: the data-descriptor flag (bit 3) is never set; DOS date 1980-01-01.
    expect(bytes.readUInt32LE(0)).toBe(LOCAL_HEADER);
    expect(bytes.readUInt16LE(6) & 0x0008).toBe(0);
    expect(bytes.readUInt16LE(10)).toBe(0);
    expect(bytes.readUInt16LE(12)).toBe(0x0021);
    expect(bytes.readUInt32LE(18)).toBeGreaterThan(0);
    // Few entries, small sizes: no zip64 records.
    expect(bytes.includes(ZIP64_END)).toBe(false);
  });

  it("gives the same bytes for the same entries", async () => {
    const dir = tempDir();
    const files = [
      { name: "a.py", mode: 0o100644, content: Buffer.from("a = 1\n".repeat(500)) },
      { name: "b.py", mode: 0o100755, content: Buffer.from("b = 2\n") },
    ];
    const first = await writeZip(join(dir, "1.zip"), files);
    const second = await writeZip(join(dir, "2.zip"), files);
    expect(second.sha256.equals(first.sha256)).toBe(true);
  });

  it("adds zip64 end records only when the entry count does not fit 16 bits", async () => {
    const path = join(tempDir(), "many.zip");
    const count = 65_536;
    const writer = await ZipWriter.create(path);
    const empty = Buffer.alloc(0);
    for (let i = 0; i < count; i++) {
      await writer.addEntry(
        { name: `f/${i}`, mode: 0o100644, method: METHOD_STORED, crc32: 0, size: 0, compressedSize: 0 },
        empty,
      );
    }
    await writer.finish();
    const bytes = readFileSync(path);
    expect(bytes.includes(ZIP64_END)).toBe(true);
    // The classic end record's counts say "see zip64" (0xFFFF); the zip64 record has the real one.
    const end = bytes.subarray(bytes.length - 22);
    expect(end.readUInt16LE(10)).toBe(0xffff);
    const zip64End = bytes.lastIndexOf(ZIP64_END);
    expect(Number(bytes.readBigUInt64LE(zip64End + 32))).toBe(count);
    execFileSync("unzip", ["-tq", path], { maxBuffer: 64 * 1024 * 1024 });
    const names = execFileSync("unzip", ["-Z1", path], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    expect(names.trim().split("\n")).toHaveLength(count);
  }, 60_000);

  it("refuses data whose length differs from the header's compressed size", async () => {
    const writer = await ZipWriter.create(join(tempDir(), "bad.zip"));
    await expect(
      writer.addEntry(
        { name: "x", mode: 0o100644, method: METHOD_STORED, crc32: 0, size: 3, compressedSize: 3 },
        Buffer.from("four"),
      ),
    ).rejects.toThrow(/4 bytes of data written, header says 3/);
    await writer.abandon();
  });
});

describe("CompressionPool", () => {
  it("reads, hashes, CRCs and deflates files on workers", async () => {
    const dir = tempDir();
    const text = Buffer.from("def f():\n    return 1\n".repeat(300));
    const noise = randomBytes(2048);
    writeFileSync(join(dir, "text.py"), text);
    writeFileSync(join(dir, "noise.bin"), noise);
    writeFileSync(join(dir, "empty"), "");
    const pool = new CompressionPool(2);
    try {
      const [a, b, c] = await Promise.all([
        pool.prepare(join(dir, "text.py"), text.length),
        pool.prepare(join(dir, "noise.bin"), noise.length),
        pool.prepare(join(dir, "empty"), 0),
      ]);
      expect(a.method).toBe(METHOD_DEFLATED);
      expect(inflateRawSync(a.data).equals(text)).toBe(true);
      expect(a.crc32).toBe(crc32(text));
      expect(a.sha256).toBe(createHash("sha256").update(text).digest("hex"));
      expect(b.method).toBe(METHOD_STORED);
      expect(b.data.equals(noise)).toBe(true);
      expect(c).toMatchObject({ method: METHOD_STORED, size: 0, crc32: 0 });

      await expect(pool.prepare(join(dir, "text.py"), 10)).rejects.toBeInstanceOf(FileChangedError);
      await expect(pool.prepare(join(dir, "missing"), 1)).rejects.toThrow(/ENOENT/);
    } finally {
      await pool.close();
    }
    await expect(pool.prepare(join(dir, "text.py"), text.length)).rejects.toThrow(/closed/);
  });
});
