import { gunzipSync, gzipSync } from "node:zlib";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { COMPRESS_ABOVE_BYTES, MAX_RECORD_TEXT_BYTES } from "../../src/release/record-body.js";
import {
  listReleaseRecords,
  loadReleaseRecord,
  releaseRecordKey,
  writeReleaseRecord,
} from "../../src/release/records.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";

/**
 * How records are stored (release/record-body.ts), read back from moto: a small record is plain
 * JSON; one that carries a large manifest is gzip with Content-Encoding gzip, and reads back
 * equal; a stored body that lies about its encoding, or expands without bound, is refused by
 * name, never decompressed into memory whole.
 */
const moto = useMoto();
const BUCKET = "record-body-test";

function record(releaseId: string, manifestEntries: number): ReleaseRecord {
  const manifest: Record<string, unknown> = {};
  for (let i = 0; i < manifestEntries; i++) {
    manifest[`assets/chunk${i}-${(i * 7919).toString(36)}.js`] = {
      sha256: (i * 104729).toString(16).padStart(64, "0"),
      md5: (i * 31).toString(16).padStart(32, "0"),
      size: 1000 + i,
      contentType: "text/javascript; charset=utf-8",
      cacheControl: "public, max-age=31536000, immutable",
    };
  }
  return {
    releaseId,
    env: "prod",
    component: "frontend",
    tool: "deploy_frontend",
    status: "succeeded",
    who: null,
    gitSha: null,
    startedAt: "2026-12-07T10:00:00.000Z",
    finishedAt: "2026-12-07T10:00:02.000Z",
    planDigest: "b".repeat(64),
    journal: [],
    artifacts: {},
    before: {},
    after: {},
    timings: {},
    ...(manifestEntries ? { manifest } : {}),
  } as ReleaseRecord;
}

async function s3() {
  return moto.current.clients().s3();
}

async function stored(key: string) {
  const out = await (await s3()).send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return { encoding: out.ContentEncoding, bytes: Buffer.from(await out.Body!.transformToByteArray()) };
}

describe("release record bodies", () => {
  beforeAll(async () => {
    await createBucket(await s3(), BUCKET);
  });

  it("stores a small record as plain JSON", async () => {
    const small = record("20261207T100000000Z-000001", 3);
    await writeReleaseRecord(await s3(), BUCKET, small);
    const { encoding, bytes } = await stored(releaseRecordKey("prod", "frontend", small.releaseId));
    expect(encoding).toBeUndefined();
    expect(bytes.length).toBeLessThanOrEqual(COMPRESS_ABOVE_BYTES);
    expect(JSON.parse(bytes.toString("utf8"))).toEqual(small);
  });

  it("stores a record with a 2,000-entry manifest gzip-compressed, and reads it back equal", async () => {
    const large = record("20261207T100000000Z-000002", 2_000);
    await writeReleaseRecord(await s3(), BUCKET, large);
    const key = releaseRecordKey("prod", "frontend", large.releaseId);
    const { encoding, bytes } = await stored(key);
    expect(encoding).toBe("gzip");
    const text = gunzipSync(bytes).toString("utf8");
    expect(text.length).toBeGreaterThan(COMPRESS_ABOVE_BYTES);
    // What goes over the wire is a fraction of the JSON.
    expect(bytes.length).toBeLessThan(text.length / 3);
    expect(JSON.parse(text)).toEqual(large);
    const head = await (await s3()).send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ContentType).toBe("application/json");
    expect(await loadReleaseRecord(await s3(), BUCKET, "prod", "frontend", large.releaseId)).toEqual(large);
  });

  it("refuses, by name, a body that says gzip but is not", async () => {
    const id = "20261207T100000000Z-000003";
    await (await s3()).send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: releaseRecordKey("prod", "lambda", id),
        Body: JSON.stringify(record(id, 0)),
        ContentEncoding: "gzip",
      }),
    );
    await expect(loadReleaseRecord(await s3(), BUCKET, "prod", "lambda", id)).rejects.toThrow(
      /releases\/prod\/lambda\/20261207T100000000Z-000003\.json says Content-Encoding gzip but is not valid gzip/,
    );
  });

  it("stops decompressing at the bound: a small gzip that expands past it is refused, and skipped in listings", async () => {
    const id = "20261207T100000000Z-000004";
    // ~70 KB of gzip that would expand to MAX + 1 MiB of zeros.
    const bomb = gzipSync(Buffer.alloc(MAX_RECORD_TEXT_BYTES + 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    await (await s3()).send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: releaseRecordKey("prod", "infra", id),
        Body: bomb,
        ContentEncoding: "gzip",
      }),
    );
    const before = process.memoryUsage().rss;
    await expect(loadReleaseRecord(await s3(), BUCKET, "prod", "infra", id)).rejects.toThrow(
      /expands beyond 64 MiB when decompressed/,
    );
    // The listing of an env's records skips what it cannot read, as it does corrupt JSON.
    expect(await listReleaseRecords(await s3(), BUCKET, "prod", "infra")).toEqual([]);
    // Nothing near the expanded size was ever held.
    expect(process.memoryUsage().rss - before).toBeLessThan(MAX_RECORD_TEXT_BYTES * 2);
  });
});
