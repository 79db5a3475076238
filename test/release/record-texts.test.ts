import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listReleaseRecords, releaseRecordKey, writeReleaseRecord } from "../../src/release/records.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { createBucket } from "../support/aws-fixtures.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";

/**
 * Listing release records again does not fetch a record the listing shows unchanged (same ETag
 * and size as the read), and always fetches one that was written since; counted at a proxy.
 */
const moto = useMoto();
const BUCKET = "record-texts-test";
let proxy: FaultProxy;

beforeAll(async () => {
  await createBucket(await moto.current.clients().s3(), BUCKET);
  proxy = await startFaultProxy(moto.current.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
});

function record(releaseId: string, patch: Partial<ReleaseRecord> = {}): ReleaseRecord {
  return {
    releaseId,
    env: "dev",
    component: "frontend",
    tool: "deploy_frontend",
    status: "succeeded",
    who: "arn:aws:sts::123456789012:user/moto",
    gitSha: null,
    startedAt: "2026-12-07T10:00:00.000Z",
    finishedAt: "2026-12-07T10:00:05.000Z",
    planDigest: "a".repeat(64),
    journal: [],
    artifacts: {},
    before: {},
    after: {},
    timings: {},
    ...patch,
  };
}

describe("release records read again", () => {
  const ids = ["20261207T100000000Z-aaaaaa", "20261207T100100000Z-bbbbbb"];
  const gets = () => proxy.count({ operation: "GetObject", bucket: BUCKET });

  it("are taken from what was read while the listing shows them unchanged, and fetched once changed", async () => {
    const direct = await moto.current.clients().s3();
    for (const id of ids) await writeReleaseRecord(direct, BUCKET, record(id));
    const s3 = await proxy.clients().s3();

    const first = await listReleaseRecords(s3, BUCKET, "dev", "frontend");
    expect(first.map((r) => r.releaseId)).toEqual([...ids].reverse());
    expect(gets()).toBe(2);

    // Each caller gets its own parsed copy: changing one changes nothing read later.
    (first[0] as ReleaseRecord).status = "failed";
    const second = await listReleaseRecords(s3, BUCKET, "dev", "frontend");
    expect(gets()).toBe(2);
    expect(second.map((r) => r.status)).toEqual(["succeeded", "succeeded"]);

    // Written since (here by someone else, the same size): read again, and the new text wins.
    await direct.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: releaseRecordKey("dev", "frontend", ids[1] as string),
        Body: JSON.stringify(record(ids[1] as string, { status: "recovered" })),
        ContentType: "application/json",
      }),
    );
    const third = await listReleaseRecords(s3, BUCKET, "dev", "frontend");
    expect(gets()).toBe(3);
    expect(third.map((r) => r.status)).toEqual(["recovered", "succeeded"]);
  });

  it("are fetched by another client (another env's credentials) as usual", async () => {
    const before = gets();
    const other = await proxy.clients("ap-south-1").s3();
    const records = await listReleaseRecords(other, BUCKET, "dev", "frontend");
    expect(records).toHaveLength(2);
    expect(gets()).toBe(before + 2);
  });
});
