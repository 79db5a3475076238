import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  STAGED_PART_BYTES,
  type StagedUpload,
  startStagedUpload,
} from "../../src/deploy/lambda/staged-upload.js";
import { createBucket, storedBytes } from "../support/aws-fixtures.js";
import { useFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";

/**
 * The staged uploader on its own, against moto through the fault proxy, fed by a writer the
 * test drives: the bytes it appends to a file and what it tells the observer (flushes, input
 * consumed, range hashes, the end). Verdicts are read back from moto: the stored bytes, what is
 * left under the prefix, open multipart uploads.
 */
const moto = useMoto();
const proxy = useFaultProxy(moto);
const BUCKET = `vyaparai-staged-uploader-${process.pid}`;
const MiB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  await createBucket(await moto.current.clients().s3(), BUCKET);
  dir = mkdtempSync(join(tmpdir(), "vyaparai-staged-uploader-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;

/** An S3 client through the proxy that also records each command's name and input. */
async function recordingS3() {
  const client = await proxy.current.clients().s3();
  const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
  const s3 = new Proxy(client, {
    get(target, property, receiver) {
      if (property !== "send") return Reflect.get(target, property, receiver);
      return (
        command: { constructor: { name: string }; input: Record<string, unknown> },
        options: unknown,
      ) => {
        sent.push({ name: command.constructor.name, input: command.input });
        return target.send(command as never, options as never);
      };
    },
  });
  return { s3, sent };
}

/**
 * Writes `content` to the file in 1 MiB flushes as a zip writer would, telling the observer;
 * `inputPerFlush` is the uncompressed size it claims each flush consumed (the compression the
 * uploader predicts the zip's length from).
 */
async function writeLikeAZip(upload: StagedUpload, file: string, content: Buffer, inputPerFlush: number) {
  const observer = upload.observer;
  const ranges = observer.rangeBytes as number;
  for (let at = 0, input = 0; at < content.length; at += MiB) {
    const chunk = content.subarray(at, at + MiB);
    appendFileSync(file, chunk);
    input += inputPerFlush;
    const written = at + chunk.length;
    // The writer reports a range's hash once it has queued the range's last byte.
    if (written % ranges === 0) {
      const index = written / ranges - 1;
      observer.rangeHashed?.(index, sha256(content.subarray(index * ranges, written)));
    }
    observer.written(written, input);
    // Let the uploader's reads and requests run between flushes, as a real writer's awaits do.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (content.length % ranges !== 0) {
    const index = Math.floor(content.length / ranges);
    observer.rangeHashed?.(index, sha256(content.subarray(index * ranges)));
  }
  observer.finished({ bytes: content.length, sha256: sha256(content), entries: 1 });
}

function sha256(bytes: Buffer): Buffer {
  return createHash("sha256").update(bytes).digest();
}

async function scenario(options: { unzippedBytes: number }) {
  const n = ++counter;
  const prefix = `backend/uploader-${n}/`;
  const file = join(dir, `zip-${n}.zip`);
  writeFileSync(file, "");
  const recording = await recordingS3();
  const upload = startStagedUpload({
    s3: recording.s3,
    bucket: BUCKET,
    prefix,
    file,
    unzippedBytes: options.unzippedBytes,
  });
  const partLengths = (number: number) =>
    recording.sent
      .filter((c) => c.name === "UploadPartCommand" && c.input.PartNumber === number)
      .map((c) => c.input.ContentLength);
  return { prefix, file, upload, sent: recording.sent, partLengths };
}

async function stored(key: string): Promise<Buffer | null> {
  return storedBytes(await moto.current.clients().s3(), BUCKET, key);
}

async function leftUnder(prefix: string): Promise<{ objects: number; uploads: number }> {
  const s3 = await moto.current.clients().s3();
  const [objects, uploads] = await Promise.all([
    s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix })),
    s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix })),
  ]);
  return { objects: objects.KeyCount ?? 0, uploads: uploads.Uploads?.length ?? 0 };
}

describe("the staged uploader", () => {
  it("sends each part while it is written and stores exactly the file's bytes", async () => {
    const content = randomBytes(12 * MiB + 12345);
    const s = await scenario({ unzippedBytes: content.length });
    await writeLikeAZip(s.upload, s.file, content, MiB);
    const object = await s.upload.done;
    expect(object.bytes).toBe(content.length);
    expect(object.sha256Hex).toBe(sha256(content).toString("hex"));
    expect((await stored(s.upload.key))?.equals(content)).toBe(true);
    expect([1, 2, 3].map(s.partLengths)).toEqual([
      [STAGED_PART_BYTES],
      [STAGED_PART_BYTES],
      [content.length - 2 * STAGED_PART_BYTES],
    ]);
    // The upload was created before the first part's bytes were all written.
    expect(s.sent[0]?.name).toBe("CreateMultipartUploadCommand");
    await s.upload.discard();
    expect(await leftUnder(s.prefix)).toEqual({ objects: 0, uploads: 0 });
  });

  it("a part sent whole before the zip ended inside it is sent again with its real length", async () => {
    // The compression so far promises a zip far larger than it turns out to be.
    const content = randomBytes(7 * MiB);
    const s = await scenario({ unzippedBytes: 200 * MiB });
    await writeLikeAZip(s.upload, s.file, content, MiB);
    const object = await s.upload.done;
    expect(object.bytes).toBe(content.length);
    expect((await stored(s.upload.key))?.equals(content)).toBe(true);
    expect(s.partLengths(2)).toEqual([STAGED_PART_BYTES, content.length - STAGED_PART_BYTES]);
    await s.upload.discard();
  });

  it("a part whose try fails (an error, a reset connection) is read from the file again and sent again", async () => {
    const content = randomBytes(11 * MiB);
    const s = await scenario({ unzippedBytes: content.length });
    const rules = [
      proxy.current.add({
        match: { operation: "UploadPart", key: s.upload.key },
        action: { kind: "fail", status: 500, code: "InternalError" },
        times: 1,
      }),
      proxy.current.add({
        match: { operation: "UploadPart", key: s.upload.key },
        action: { kind: "reset" },
        times: 1,
      }),
    ];
    try {
      await writeLikeAZip(s.upload, s.file, content, MiB);
      const object = await s.upload.done;
      expect(rules.map((r) => r.hits)).toEqual([1, 1]);
      expect(object.sha256Hex).toBe(sha256(content).toString("hex"));
      expect((await stored(s.upload.key))?.equals(content)).toBe(true);
      // Three parts, two of them sent twice by the uploader itself (the SDK did not resend a read stream).
      const tries = [1, 2, 3].map((n) => s.partLengths(n).length);
      expect(tries.reduce((a, b) => a + b, 0)).toBe(5);
    } finally {
      for (const rule of rules) rule.remove();
      await s.upload.discard();
    }
  });

  it("bytes on disk that are not those the writer hashed fail the upload, and nothing is left", async () => {
    const content = randomBytes(6 * MiB);
    const s = await scenario({ unzippedBytes: content.length });
    const observer = s.upload.observer;
    // The writer says it wrote `content`; the disk holds other bytes for the first range.
    const onDisk = Buffer.from(content);
    onDisk[1000] = (onDisk[1000] as number) ^ 0xff;
    appendFileSync(s.file, onDisk);
    observer.rangeHashed?.(0, sha256(content.subarray(0, STAGED_PART_BYTES)));
    observer.written(content.length, content.length);
    observer.rangeHashed?.(1, sha256(content.subarray(STAGED_PART_BYTES)));
    observer.finished({ bytes: content.length, sha256: sha256(content), entries: 1 });
    await expect(s.upload.done).rejects.toThrow(/not those the writer wrote/);
    await s.upload.discard();
    expect(await leftUnder(s.prefix)).toEqual({ objects: 0, uploads: 0 });
  });

  it("a writer that fails stops the upload: nothing is stored and no upload is left open", async () => {
    const s = await scenario({ unzippedBytes: 20 * MiB });
    appendFileSync(s.file, randomBytes(2 * MiB));
    s.upload.observer.written(2 * MiB, 2 * MiB);
    s.upload.observer.failed(new Error("deflate failed"));
    await expect(s.upload.done).rejects.toThrow(/deflate failed/);
    await s.upload.discard();
    expect(await leftUnder(s.prefix)).toEqual({ objects: 0, uploads: 0 });
  });
});
