import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import zlib from "node:zlib";

/*
 * A small ZIP writer (APPNOTE 6.3.x) for deterministic packages, and the worker pool that
 * feeds it. Why not a library: entries are compressed whole, several at once on worker
 * threads (read + SHA-256 + native CRC-32 + deflate per file, off the main thread), and
 * written in the caller's order, each local header already holding its CRC and sizes — no
 * data descriptors, no per-entry stream pipeline, no CRC-32 in JavaScript. What it writes:
 * local header + data per entry, then the central directory and the end-of-central-directory
 * record, with zip64 records only when a count, size or offset does not fit the classic
 * fields. No timestamps from the file system, no extra fields unless zip64 needs them, no
 * comments: the bytes depend only on the entries given.
 */

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY_SIGNATURE = 0x06054b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY_SIGNATURE = 0x06064b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EXTRA_FIELD_ID = 0x0001;

export const METHOD_STORED = 0;
export const METHOD_DEFLATED = 8;
/**
 * The version of the bytes this writer produces for given entries. The hash cache remembers
 * which zip a tree made (package.ts packageCacheKey): bump this with any change to what is
 * written (headers, fields, order, compression choices), so no zip is taken for another's.
 */
export const ZIP_FORMAT_VERSION = 1;
/** zip's default level: what `zip -r` would produce, at the same cost. */
export const DEFAULT_DEFLATE_LEVEL = 6;

const VERSION_STORED = 10; // 1.0
const VERSION_DEFLATED = 20; // 2.0
const VERSION_ZIP64 = 45; // 4.5
/** "Made by" Unix (3): tells unzip that the high 16 bits of the external attributes are a mode. */
const MADE_BY_UNIX = 3 << 8;
const FLAG_UTF8_NAME = 0x0800;
const MAX_16 = 0xffff;
const MAX_32 = 0xffffffff;
/** Flush to the file once this much is queued: one write per ~1 MB, not one per entry. */
const FLUSH_BYTES = 1024 * 1024;
/**
 * A followed zip's first flush comes sooner: its reader (a staged upload) can start sending
 * once the first bytes are on disk, instead of after the first megabyte is compressed.
 */
const FIRST_FLUSH_BYTES = 64 * 1024;

/** 1980-01-01 00:00:00, the DOS epoch: the same bytes in every timezone. */
export const FIXED_DOS_DATE = (0 << 9) | (1 << 5) | 1;
export const FIXED_DOS_TIME = 0;

const deflateRaw = promisify(zlib.deflateRaw);

/**
 * Native CRC-32 (zlib's, SIMD where the CPU has it) — Node ≥ 20.15 / 22.2. Checked once,
 * at first use, so an older Node fails with a message rather than a TypeError mid-package.
 */
export function nativeCrc32(): (data: Uint8Array, previous?: number) => number {
  const crc32 = (zlib as { crc32?: (data: Uint8Array, previous?: number) => number }).crc32;
  if (typeof crc32 !== "function") {
    throw new Error(
      `This Node.js (${process.version}) has no zlib.crc32, which the Lambda packager needs. Use Node.js 20.15 or newer (or 22.2+).`,
    );
  }
  return crc32;
}

export interface CompressedEntry {
  method: typeof METHOD_STORED | typeof METHOD_DEFLATED;
  crc32: number;
  /** Uncompressed size. */
  size: number;
  /** What goes into the zip: the deflated bytes, or the content itself when stored. */
  data: Buffer;
}

/**
 * Compresses one whole entry. The deflate runs on libuv's thread pool, so callers can start
 * several and they proceed in parallel; the CRC is native and fast enough for the caller's
 * thread. Content that deflate does not shrink is stored, as zip does.
 */
export async function compressEntry(
  content: Buffer,
  level = DEFAULT_DEFLATE_LEVEL,
): Promise<CompressedEntry> {
  const crc32 = nativeCrc32()(content);
  if (content.length === 0) return { method: METHOD_STORED, crc32, size: 0, data: content };
  const deflated = await deflateRaw(content, { level });
  return deflated.length < content.length
    ? { method: METHOD_DEFLATED, crc32, size: content.length, data: deflated }
    : { method: METHOD_STORED, crc32, size: content.length, data: content };
}

export interface EntryHeader {
  /** Path inside the zip, posix separators, no leading slash. */
  name: string;
  /** Full Unix mode including the file type bits, e.g. 0o100644. */
  mode: number;
  method: typeof METHOD_STORED | typeof METHOD_DEFLATED;
  crc32: number;
  size: number;
  compressedSize: number;
}

interface CentralRecord extends EntryHeader {
  nameBytes: Buffer;
  flags: number;
  offset: number;
}

export interface ZipResult {
  /** Bytes written. */
  bytes: number;
  /** SHA-256 of the whole file, computed from the bytes as they were written. */
  sha256: Buffer;
  entries: number;
}

/**
 * Told how far the file on disk has grown, so a reader can follow the zip while it is written
 * (staged-upload.ts sends it up as it grows): `written` after every flush with the bytes now on
 * disk, then exactly one of `finished` (the whole file and its SHA-256) or `failed`.
 */
export interface ZipObserver {
  /**
   * When set, the writer also hashes the file in consecutive ranges of this many bytes (the
   * last may be shorter) and reports each SHA-256 with `rangeHashed`, from the bytes as it
   * wrote them: a reader sending the file in parts checks each part against it.
   */
  readonly rangeBytes?: number;
  rangeHashed?(index: number, sha256: Buffer): void;
  /** `inputBytes`: the uncompressed bytes of the entries begun so far (for a size estimate). */
  written(bytesOnDisk: number, inputBytes: number): void;
  finished(result: ZipResult): void;
  failed(error: Error): void;
}

/**
 * Writes a zip file front to back. Entries are appended in call order (the caller sorts);
 * the file is hashed as it is written, so no second read is needed.
 */
export class ZipWriter {
  private offset = 0;
  private readonly central: CentralRecord[] = [];
  private readonly hash = createHash("sha256");
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private finished = false;

  private flushed = 0;
  private inputBytes = 0;
  /** The range being hashed for observer.rangeBytes: its index, hash and length so far. */
  private range = { index: 0, hash: createHash("sha256"), filled: 0 };

  private constructor(
    private readonly handle: FileHandle,
    private readonly observer: ZipObserver | null,
  ) {}

  /** Creates (or truncates) `path`. */
  static async create(path: string, observer: ZipObserver | null = null): Promise<ZipWriter> {
    nativeCrc32();
    return new ZipWriter(await open(path, "w"), observer);
  }

  /** Appends an entry whose content is already compressed (or stored) as `header` says. */
  async addEntry(header: EntryHeader, data: Buffer | AsyncIterable<Buffer>): Promise<void> {
    if (this.finished) throw new Error("ZipWriter: addEntry after finish");
    const nameBytes = Buffer.from(header.name, "utf8");
    if (nameBytes.length > MAX_16) throw new Error(`Zip entry name too long: ${header.name.slice(0, 80)}…`);
    // Info-ZIP sets the UTF-8 flag only for names that need it; ASCII names stay flag-free.
    const flags = nameBytes.length === header.name.length ? 0 : FLAG_UTF8_NAME;
    const record: CentralRecord = { ...header, nameBytes, flags, offset: this.offset };
    this.central.push(record);
    this.inputBytes += header.size;
    this.queue(localHeader(record));
    let written = 0;
    if (Buffer.isBuffer(data)) {
      this.queue(data);
      written = data.length;
    } else {
      for await (const chunk of data) {
        this.queue(chunk);
        written += chunk.length;
        if (this.pendingBytes >= this.flushAt()) await this.flush();
      }
    }
    if (written !== header.compressedSize) {
      throw new Error(
        `Zip entry ${header.name}: ${written} bytes of data written, header says ${header.compressedSize}`,
      );
    }
    if (this.pendingBytes >= this.flushAt()) await this.flush();
  }

  /** How much may be queued before the next flush. */
  private flushAt(): number {
    return this.observer && this.flushed === 0 ? FIRST_FLUSH_BYTES : FLUSH_BYTES;
  }

  /** Writes the central directory and end records, closes the file. */
  async finish(): Promise<ZipResult> {
    this.finished = true;
    try {
      const centralStart = this.offset;
      for (const record of this.central) this.queue(centralHeader(record));
      const centralSize = this.offset - centralStart;
      const count = this.central.length;
      // A classic field holding its maximum means "see the zip64 record", so == max needs one too.
      if (count >= MAX_16 || centralStart >= MAX_32 || centralSize >= MAX_32) {
        const zip64End = this.offset;
        this.queue(zip64EndOfCentralDirectory(count, centralSize, centralStart));
        this.queue(zip64Locator(zip64End));
      }
      this.queue(endOfCentralDirectory(count, centralSize, centralStart));
      if (this.range.filled > 0) this.endRange();
      await this.flush();
    } catch (error) {
      this.observer?.failed(error as Error);
      throw error;
    } finally {
      await this.handle.close();
    }
    const result = { bytes: this.offset, sha256: this.hash.digest(), entries: this.central.length };
    this.observer?.finished(result);
    return result;
  }

  /** Closes the file after a failure; the caller removes it. */
  async abandon(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.observer?.failed(new Error("the zip was abandoned before it was finished"));
    await this.handle.close().catch(() => undefined);
  }

  private queue(buffer: Buffer): void {
    this.hash.update(buffer);
    if (this.observer?.rangeBytes) this.hashRanges(buffer, this.observer.rangeBytes);
    this.pending.push(buffer);
    this.pendingBytes += buffer.length;
    this.offset += buffer.length;
  }

  private async flush(): Promise<void> {
    const buffers = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    // writev may write less than asked (large totals); loop until everything is out.
    let remaining = buffers;
    while (remaining.length > 0) {
      const { bytesWritten } = await this.handle.writev(remaining);
      remaining = dropWritten(remaining, bytesWritten);
      this.flushed += bytesWritten;
    }
    this.observer?.written(this.flushed, this.inputBytes);
  }

  private hashRanges(buffer: Buffer, rangeBytes: number): void {
    let at = 0;
    while (at < buffer.length) {
      const take = Math.min(rangeBytes - this.range.filled, buffer.length - at);
      this.range.hash.update(buffer.subarray(at, at + take));
      this.range.filled += take;
      at += take;
      if (this.range.filled === rangeBytes) this.endRange();
    }
  }

  private endRange(): void {
    this.observer?.rangeHashed?.(this.range.index, this.range.hash.digest());
    this.range = { index: this.range.index + 1, hash: createHash("sha256"), filled: 0 };
  }
}

function dropWritten(buffers: Buffer[], bytesWritten: number): Buffer[] {
  let skip = bytesWritten;
  let index = 0;
  while (index < buffers.length && skip >= (buffers[index] as Buffer).length) {
    skip -= (buffers[index] as Buffer).length;
    index++;
  }
  const rest = buffers.slice(index);
  if (skip > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(skip);
  return rest;
}

/** An entry needs zip64 sizes when either size does not fit 32 bits. */
function needsZip64Sizes(record: EntryHeader): boolean {
  return record.size >= MAX_32 || record.compressedSize >= MAX_32;
}

function versionNeeded(record: CentralRecord, zip64: boolean): number {
  if (zip64) return VERSION_ZIP64;
  return record.method === METHOD_DEFLATED ? VERSION_DEFLATED : VERSION_STORED;
}

/*
 * Local header: sizes are known up front, so they go here directly (general purpose bit 3,
 * "data descriptor follows", stays off). With zip64 the 32-bit fields hold 0xFFFFFFFF and a
 * zip64 extra field carries both sizes, as APPNOTE 4.5.3 requires for local headers.
 */
function localHeader(record: CentralRecord): Buffer {
  const zip64 = needsZip64Sizes(record);
  const extra = zip64 ? zip64Extra([record.size, record.compressedSize]) : Buffer.alloc(0);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(LOCAL_HEADER_SIGNATURE, 0);
  header.writeUInt16LE(versionNeeded(record, zip64), 4);
  header.writeUInt16LE(record.flags, 6);
  header.writeUInt16LE(record.method, 8);
  header.writeUInt16LE(FIXED_DOS_TIME, 10);
  header.writeUInt16LE(FIXED_DOS_DATE, 12);
  header.writeUInt32LE(record.crc32 >>> 0, 14);
  header.writeUInt32LE(zip64 ? MAX_32 : record.compressedSize, 18);
  header.writeUInt32LE(zip64 ? MAX_32 : record.size, 22);
  header.writeUInt16LE(record.nameBytes.length, 26);
  header.writeUInt16LE(extra.length, 28);
  return Buffer.concat([header, record.nameBytes, extra]);
}

/*
 * Central header: the zip64 extra field holds only the values that overflow, in the fixed
 * order size, compressed size, offset (APPNOTE 4.5.3).
 */
function centralHeader(record: CentralRecord): Buffer {
  const bigSize = record.size >= MAX_32;
  const bigCompressed = record.compressedSize >= MAX_32;
  const bigOffset = record.offset >= MAX_32;
  const zip64Values = [
    ...(bigSize ? [record.size] : []),
    ...(bigCompressed ? [record.compressedSize] : []),
    ...(bigOffset ? [record.offset] : []),
  ];
  const zip64 = zip64Values.length > 0;
  const extra = zip64 ? zip64Extra(zip64Values) : Buffer.alloc(0);
  const needed = versionNeeded(record, zip64 || needsZip64Sizes(record));
  const header = Buffer.alloc(46);
  header.writeUInt32LE(CENTRAL_HEADER_SIGNATURE, 0);
  header.writeUInt16LE(MADE_BY_UNIX | Math.max(needed, VERSION_DEFLATED), 4);
  header.writeUInt16LE(needed, 6);
  header.writeUInt16LE(record.flags, 8);
  header.writeUInt16LE(record.method, 10);
  header.writeUInt16LE(FIXED_DOS_TIME, 12);
  header.writeUInt16LE(FIXED_DOS_DATE, 14);
  header.writeUInt32LE(record.crc32 >>> 0, 16);
  header.writeUInt32LE(bigCompressed ? MAX_32 : record.compressedSize, 20);
  header.writeUInt32LE(bigSize ? MAX_32 : record.size, 24);
  header.writeUInt16LE(record.nameBytes.length, 28);
  header.writeUInt16LE(extra.length, 30);
  header.writeUInt16LE(0, 32); // comment length
  header.writeUInt16LE(0, 34); // disk number start
  header.writeUInt16LE(0, 36); // internal attributes
  // External attributes: Unix mode in the high 16 bits (file type + permissions).
  header.writeUInt32LE(((record.mode & MAX_16) << 16) >>> 0, 38);
  header.writeUInt32LE(bigOffset ? MAX_32 : record.offset, 42);
  return Buffer.concat([header, record.nameBytes, extra]);
}

function zip64Extra(values: number[]): Buffer {
  const extra = Buffer.alloc(4 + 8 * values.length);
  extra.writeUInt16LE(ZIP64_EXTRA_FIELD_ID, 0);
  extra.writeUInt16LE(8 * values.length, 2);
  values.forEach((value, i) => {
    extra.writeBigUInt64LE(BigInt(value), 4 + 8 * i);
  });
  return extra;
}

function zip64EndOfCentralDirectory(count: number, centralSize: number, centralStart: number): Buffer {
  const record = Buffer.alloc(56);
  record.writeUInt32LE(ZIP64_END_OF_CENTRAL_DIRECTORY_SIGNATURE, 0);
  record.writeBigUInt64LE(44n, 4); // size of the rest of this record
  record.writeUInt16LE(MADE_BY_UNIX | VERSION_ZIP64, 12);
  record.writeUInt16LE(VERSION_ZIP64, 14);
  record.writeUInt32LE(0, 16); // this disk
  record.writeUInt32LE(0, 20); // disk with the central directory
  record.writeBigUInt64LE(BigInt(count), 24);
  record.writeBigUInt64LE(BigInt(count), 32);
  record.writeBigUInt64LE(BigInt(centralSize), 40);
  record.writeBigUInt64LE(BigInt(centralStart), 48);
  return record;
}

function zip64Locator(zip64EndOffset: number): Buffer {
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(ZIP64_LOCATOR_SIGNATURE, 0);
  locator.writeUInt32LE(0, 4); // disk with the zip64 end record
  locator.writeBigUInt64LE(BigInt(zip64EndOffset), 8);
  locator.writeUInt32LE(1, 16); // total disks
  return locator;
}

/** Classic end record; fields that overflow hold their maximum and readers use the zip64 record. */
function endOfCentralDirectory(count: number, centralSize: number, centralStart: number): Buffer {
  const record = Buffer.alloc(22);
  record.writeUInt32LE(END_OF_CENTRAL_DIRECTORY_SIGNATURE, 0);
  record.writeUInt16LE(0, 4);
  record.writeUInt16LE(0, 6);
  record.writeUInt16LE(Math.min(count, MAX_16), 8);
  record.writeUInt16LE(Math.min(count, MAX_16), 10);
  record.writeUInt32LE(Math.min(centralSize, MAX_32), 12);
  record.writeUInt32LE(Math.min(centralStart, MAX_32), 16);
  record.writeUInt16LE(0, 20); // comment length
  return record;
}

export interface PreparedFile extends CompressedEntry {
  /** SHA-256 (hex) of the file's content. */
  sha256: string;
}

/**
 * What each pool worker runs (plain JS, evaluated, so it works from the TypeScript sources
 * under test and from dist/ alike). Per file: read, SHA-256, CRC-32, deflate — all off the
 * main thread. The result is copied into a fresh ArrayBuffer before it is transferred, since
 * small Buffers may share Node's pool with other data.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { readFileSync } = require("node:fs");
const { createHash } = require("node:crypto");
const zlib = require("node:zlib");
parentPort.on("message", ({ id, path, size, level }) => {
  try {
    const content = readFileSync(path);
    if (content.length !== size) {
      parentPort.postMessage({ id, changed: content.length });
      return;
    }
    const sha256 = createHash("sha256").update(content).digest("hex");
    const crc32 = zlib.crc32(content);
    let method = ${METHOD_STORED};
    let data = content;
    if (content.length > 0) {
      const deflated = zlib.deflateRawSync(content, { level });
      if (deflated.length < content.length) {
        method = ${METHOD_DEFLATED};
        data = deflated;
      }
    }
    const copy = new Uint8Array(data);
    parentPort.postMessage({ id, sha256, crc32, method, size, data: copy.buffer }, [copy.buffer]);
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error) });
  }
});
`;

interface Job {
  resolve: (value: PreparedFile) => void;
  reject: (error: Error) => void;
  path: string;
}

interface PoolWorker {
  worker: Worker;
  pendingBytes: number;
}

/** A file changed size between listing and reading. */
export class FileChangedError extends Error {
  constructor(
    readonly path: string,
    readonly bytesRead: number,
  ) {
    super(`${path} changed while it was being read (${bytesRead} bytes read)`);
  }
}

/**
 * Reads, hashes and compresses whole files on worker threads. Why workers and not zlib's
 * async API: one async deflate per small file costs a zlib stream object, its buffers and a
 * thread-pool round trip on the main thread, and with thousands of small files that
 * bookkeeping (plus SHA-256 of every file) kept the main thread busier than the compression
 * itself. Here the main thread only writes; each worker does whole files start to finish.
 */
export class CompressionPool {
  private readonly workers: PoolWorker[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private closed = false;
  /** Set when a worker died: every pending and later job fails with it instead of hanging. */
  private broken: Error | undefined;

  constructor(
    size = Math.max(1, Math.min(availableParallelism(), 4)),
    private readonly level = DEFAULT_DEFLATE_LEVEL,
  ) {
    nativeCrc32();
    for (let i = 0; i < size; i++) {
      const poolWorker: PoolWorker = { worker: new Worker(WORKER_SOURCE, { eval: true }), pendingBytes: 0 };
      poolWorker.worker.on("message", (message: WorkerReply) => this.settle(message));
      poolWorker.worker.on("error", (error) => this.fail(error));
      poolWorker.worker.on("exit", (code) => {
        if (!this.closed) this.fail(new Error(`A compression worker exited unexpectedly (code ${code}).`));
      });
      this.workers.push(poolWorker);
    }
  }

  /** Reads and compresses `path` (expected to be `size` bytes) on the least busy worker. */
  prepare(path: string, size: number): Promise<PreparedFile> {
    if (this.closed) return Promise.reject(new Error("CompressionPool is closed"));
    if (this.broken) return Promise.reject(this.broken);
    const worker = this.workers.reduce((best, w) => (w.pendingBytes < best.pendingBytes ? w : best));
    const id = this.nextId++;
    // Each job also counts a fixed cost so that many empty files still spread out.
    const cost = size + 4096;
    worker.pendingBytes += cost;
    return new Promise<PreparedFile>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject, path });
      worker.worker.postMessage({ id, path, size, level: this.level });
    }).finally(() => {
      worker.pendingBytes -= cost;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.fail(new Error("CompressionPool closed"));
  }

  private settle(message: WorkerReply): void {
    const job = this.jobs.get(message.id);
    if (!job) return;
    this.jobs.delete(message.id);
    if ("error" in message) job.reject(new Error(message.error));
    else if ("changed" in message) job.reject(new FileChangedError(job.path, message.changed));
    else {
      job.resolve({
        sha256: message.sha256,
        crc32: message.crc32,
        method: message.method,
        size: message.size,
        data: Buffer.from(message.data),
      });
    }
  }

  private fail(error: Error): void {
    this.broken ??= error;
    for (const job of this.jobs.values()) job.reject(error);
    this.jobs.clear();
  }
}

type WorkerReply =
  | { id: number; error: string }
  | { id: number; changed: number }
  | {
      id: number;
      sha256: string;
      crc32: number;
      method: typeof METHOD_STORED | typeof METHOD_DEFLATED;
      size: number;
      data: ArrayBuffer;
    };
