import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendSchema } from "../../src/config/schema.js";
import {
  MULTIPART_ABOVE_BYTES,
  PART_BYTES,
  PART_CONCURRENCY,
  uploadArtifact,
} from "../../src/deploy/lambda/artifact.js";
import { RACY_MARGIN_MS } from "../../src/deploy/lambda/hash-cache.js";
import { buildLambdaPackage } from "../../src/deploy/lambda/package.js";
import { createBucket, storedBytes } from "../support/aws-fixtures.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";

/**
 * The Lambda zip goes up as one PutObject up to MULTIPART_ABOVE_BYTES (S3 checks the planned
 * SHA-256 of the whole object) and as a multipart upload with parts in parallel above it; either
 * way the object holds exactly the planned bytes. Counted at a proxy in front of moto.
 */
const moto = useMoto();
const BUCKET = `vyaparai-artifacts-mp-${process.pid}`;
let proxy: FaultProxy;

beforeAll(async () => {
  proxy = await startFaultProxy(moto.current.endpoint);
  await createBucket(await moto.current.clients().s3(), BUCKET);
});
afterAll(async () => {
  await proxy?.stop();
});

function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function fileOf(bytes: Buffer): string {
  const file = join(mkdtempSync(join(tmpdir(), "vyaparai-mp-")), "package.zip");
  writeFileSync(file, bytes);
  return file;
}

async function objectBytes(key: string): Promise<Buffer | null> {
  return storedBytes(await moto.current.clients().s3(), BUCKET, key);
}

/** Uploads through the proxy; returns the S3 operations it saw for the key. */
async function upload(key: string, file: string, planned: Buffer) {
  const s3 = await proxy.clients().s3();
  const mark = proxy.log.length;
  const outcome = await uploadArtifact({
    s3,
    bucket: BUCKET,
    key,
    file,
    bytes: planned.length,
    sha256Hex: sha256Hex(planned),
  }).then(
    () => null,
    (error: unknown) => error as Error,
  );
  const operations = proxy.log
    .slice(mark)
    .filter((r) => r.key === key)
    .map((r) => r.operation);
  return { outcome, operations };
}

describe("uploadArtifact", () => {
  it("puts a zip up to the threshold in one PutObject with the planned SHA-256", async () => {
    const planned = randomBytes(3 * 1024 * 1024);
    const { outcome, operations } = await upload("small.zip", fileOf(planned), planned);
    expect(outcome).toBeNull();
    expect(operations).toEqual(["PutObject"]);
    expect(
      proxy.count({
        operation: "PutObject",
        key: "small.zip",
        header: { "x-amz-checksum-sha256": createHash("sha256").update(planned).digest("base64") },
      }),
    ).toBe(1);
    expect((await objectBytes("small.zip"))?.equals(planned)).toBe(true);
    const head = await (await moto.current.clients().s3()).send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: "small.zip" }),
    );
    expect(head.Metadata?.sha256).toBe(sha256Hex(planned));
  });

  it("uploads a zip above the threshold as a multipart upload, parts in parallel, byte for byte", async () => {
    const planned = randomBytes(MULTIPART_ABOVE_BYTES + 1024 * 1024);
    const parts = Math.ceil(planned.length / PART_BYTES);
    expect(parts).toBeLessThanOrEqual(PART_CONCURRENCY);
    // Each part waits 1.5 s at the proxy: parts sent one after another would arrive that far apart.
    const slow = proxy.add({
      match: { operation: "UploadPart", key: "large.zip" },
      action: { kind: "delay", ms: 1500 },
    });
    const mark = proxy.log.length;
    const { outcome, operations } = await upload("large.zip", fileOf(planned), planned);
    slow.remove();
    expect(outcome).toBeNull();
    const arrivals = proxy.log
      .slice(mark)
      .filter((r) => r.operation === "UploadPart")
      .map((r) => r.at);
    expect(Math.max(...arrivals) - Math.min(...arrivals)).toBeLessThan(1000);
    expect(operations.filter((o) => o === "CreateMultipartUpload")).toHaveLength(1);
    expect(operations.filter((o) => o === "UploadPart")).toHaveLength(parts);
    expect(operations.filter((o) => o === "CompleteMultipartUpload")).toHaveLength(1);
    expect(operations).not.toContain("PutObject");
    // Every part carries its own SHA-256, which S3 checks.
    expect(
      proxy.count({ operation: "UploadPart", key: "large.zip", header: { "x-amz-checksum-sha256": /./ } }),
    ).toBe(parts);
    expect((await objectBytes("large.zip"))?.equals(planned)).toBe(true);
  });

  it("stops a multipart upload of other bytes than planned before it completes, and leaves no upload open", async () => {
    const planned = randomBytes(MULTIPART_ABOVE_BYTES + 1024 * 1024);
    const swapped = Buffer.from(planned);
    swapped[swapped.length - 1] = (swapped.at(-1) as number) ^ 0xff;
    const { outcome, operations } = await upload("swapped-large.zip", fileOf(swapped), planned);
    expect(outcome?.message).toMatch(/changed on disk after it was built and planned/);
    expect(operations).not.toContain("CompleteMultipartUpload");
    expect(await objectBytes("swapped-large.zip")).toBeNull();
    const open = await (await moto.current.clients().s3()).send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET }),
    );
    expect((open.Uploads ?? []).filter((u) => u.Key === "swapped-large.zip")).toEqual([]);
  });

  it("stops a single PutObject of other bytes than planned before sending them", async () => {
    const planned = randomBytes(1024 * 1024);
    const swapped = randomBytes(planned.length);
    const { outcome, operations } = await upload("swapped-small.zip", fileOf(swapped), planned);
    expect(outcome?.message).toMatch(/changed on disk after it was built and planned/);
    expect(operations).toEqual([]);
    expect(await objectBytes("swapped-small.zip")).toBeNull();
  });

  it("writes a package the hash cache answered from the backend files, then uploads exactly it", async () => {
    const { appRoot } = writeBackendFixture({ commit: true });
    await new Promise((resolve) => setTimeout(resolve, RACY_MARGIN_MS + 200));
    const backend = backendSchema.parse({});
    const dir = mkdtempSync(join(tmpdir(), "vyaparai-mp-pkg-"));
    const built = await buildLambdaPackage({ appRoot, backend, outFile: join(dir, "a.zip"), deferZip: true });
    const deferred = await buildLambdaPackage({
      appRoot,
      backend,
      outFile: join(dir, "b.zip"),
      deferZip: true,
    });
    expect(deferred.deferred).toBe(true);
    const s3 = await proxy.clients().s3();
    await uploadArtifact({
      s3,
      bucket: BUCKET,
      key: "deferred.zip",
      file: deferred.path,
      bytes: deferred.bytes,
      sha256Hex: deferred.sha256Hex,
    });
    expect((await objectBytes("deferred.zip"))?.equals(readFileSync(built.path))).toBe(true);
  }, 30_000);
});
