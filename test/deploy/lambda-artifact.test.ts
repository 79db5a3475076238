import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { uploadArtifact } from "../../src/deploy/lambda/artifact.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";

/** The zip that is uploaded is the zip that was built and planned, byte for byte. */
const moto = useMoto();
const BUCKET = `vyaparai-artifacts-upload-${process.pid}`;

async function exists(key: string): Promise<boolean> {
  const s3 = await moto.current.clients().s3();
  return s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(
    () => true,
    () => false,
  );
}

describe("uploadArtifact", () => {
  it("uploads the planned bytes and stops, leaving no object, when the file changed after the plan", async () => {
    const s3 = await moto.current.clients().s3();
    await createBucket(s3, BUCKET);
    const dir = mkdtempSync(join(tmpdir(), "vyaparai-artifact-"));
    const file = join(dir, "package.zip");
    // Below MULTIPART_ABOVE_BYTES: the single PutObject path (multipart: lambda-artifact-upload.test.ts).
    const planned = Buffer.alloc(9 * 1024 * 1024, 7);
    writeFileSync(file, planned);
    const sha256Hex = createHash("sha256").update(planned).digest("hex");
    await uploadArtifact({ s3, bucket: BUCKET, key: "ok.zip", file, bytes: planned.length, sha256Hex });
    expect(await exists("ok.zip")).toBe(true);

    // Same size, other bytes: swapped on disk between the plan and the upload.
    writeFileSync(file, Buffer.alloc(planned.length, 9));
    const error = await uploadArtifact({
      s3,
      bucket: BUCKET,
      key: "swapped.zip",
      file,
      bytes: planned.length,
      sha256Hex,
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/changed on disk after it was built and planned/);
    expect(await exists("swapped.zip")).toBe(false);
  }, 60_000);
});
