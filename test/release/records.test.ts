import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import {
  isReleaseId,
  listReleaseRecords,
  loadReleaseRecord,
  newReleaseId,
  releaseRecordKey,
  writeReleaseRecord,
} from "../../src/release/records.js";
import { type ReleaseRecord, releaseRecordSchema } from "../../src/release/types.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";

const moto = useMoto();
const BUCKET = "release-records-test";

function record(releaseId: string, startedAt: string, patch: Partial<ReleaseRecord> = {}): ReleaseRecord {
  return {
    releaseId,
    env: "prod",
    component: "lambda",
    tool: "deploy_lambda",
    status: "succeeded",
    who: "arn:aws:sts::123456789012:user/moto",
    gitSha: "3f786850e387550fdab836ed7e6dc881de23001b",
    startedAt,
    finishedAt: startedAt,
    planDigest: "a".repeat(64),
    journal: [],
    artifacts: { codeSha256: "q6t5xHbe2yXjOI8lJBbsyxDBVk0HRu6mT5lB/sxGUrk=" },
    before: { version: "3" },
    after: { version: "4" },
    timings: { totalMs: 1234 },
    ...patch,
  };
}

describe("release records in S3 (moto)", () => {
  beforeAll(async () => {
    await createBucket(await moto.current.clients().s3(), BUCKET);
  });

  it("release ids sort by time to the millisecond", () => {
    const early = newReleaseId(new Date("2026-11-25T13:05:12.900Z"));
    const late = newReleaseId(new Date("2026-11-25T13:05:13.001Z"));
    const sameSecond = newReleaseId(new Date("2026-11-25T13:05:12.901Z"));
    expect(early).toMatch(/^20261125T130512900Z-[0-9a-f]{6}$/);
    expect([late, sameSecond, early].sort()).toEqual([early, sameSecond, late]);
    // Records written with second-precision ids stay readable.
    expect(isReleaseId("20261125T130512Z-3fa9c1")).toBe(true);
    expect(isReleaseId(early)).toBe(true);
    expect(isReleaseId("../locks/prod")).toBe(false);
  });

  it("keys follow releases/<env>/<component>/<releaseId>.json and refuse anything else", () => {
    expect(releaseRecordKey("prod", "lambda", "20261125T130512Z-3fa9c1")).toBe(
      "releases/prod/lambda/20261125T130512Z-3fa9c1.json",
    );
    expect(() => releaseRecordKey("prod", "lambda", "../../locks/prod")).toThrow(/not a release id/);
    expect(() => releaseRecordKey("prod/../x", "lambda", "20261125T130512Z-3fa9c1")).toThrow();
  });

  it("writes JSON read back unchanged from S3, and loads it", async () => {
    const s3 = await moto.current.clients().s3();
    const r = record("20261125T130512Z-000001", "2026-11-25T13:05:12.000Z");
    await writeReleaseRecord(s3, BUCKET, r);
    const raw = await s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: "releases/prod/lambda/20261125T130512Z-000001.json" }),
    );
    expect(raw.ContentType).toBe("application/json");
    expect(JSON.parse(await raw.Body!.transformToString())).toEqual(r);
    expect(await loadReleaseRecord(s3, BUCKET, "prod", "lambda", r.releaseId)).toEqual(r);
  });

  it("a missing or malformed id loads as null", async () => {
    const s3 = await moto.current.clients().s3();
    expect(await loadReleaseRecord(s3, BUCKET, "prod", "lambda", "20201125T130512Z-abcdef")).toBeNull();
    expect(await loadReleaseRecord(s3, BUCKET, "prod", "lambda", "7")).toBeNull();
  });

  it("a corrupt record is an error naming its key", async () => {
    const s3 = await moto.current.clients().s3();
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: "releases/dev/lambda/20261125T130512Z-badbad.json",
        Body: "{not json",
      }),
    );
    await expect(loadReleaseRecord(s3, BUCKET, "dev", "lambda", "20261125T130512Z-badbad")).rejects.toThrow(
      /releases\/dev\/lambda\/20261125T130512Z-badbad\.json is not valid JSON/,
    );
  });

  it("lists newest first across pages, bounded by limit, ignoring other envs and components", async () => {
    const s3 = await moto.current.clients().s3();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const at = new Date(Date.UTC(2026, 10, 20, 10, i, 0));
      const id = `${newReleaseId(at).replace(/-[0-9a-f]{6}$/, "")}-00000${i}`;
      ids.push(id);
      await writeReleaseRecord(s3, BUCKET, {
        ...record(id, at.toISOString()),
        env: "staging",
        component: "frontend",
      });
    }
    await writeReleaseRecord(s3, BUCKET, {
      ...record("20991231T000000Z-ffffff", "2099-12-31T00:00:00.000Z"),
      env: "staging",
      component: "lambda",
    });
    const all = await listReleaseRecords(s3, BUCKET, "staging", "frontend", { pageSize: 2 });
    expect(all.map((r) => r.releaseId)).toEqual([...ids].reverse());
    const newestThree = await listReleaseRecords(s3, BUCKET, "staging", "frontend", {
      limit: 3,
      pageSize: 2,
    });
    expect(newestThree.map((r) => r.releaseId)).toEqual(ids.slice(-3).reverse());
    expect(await listReleaseRecords(s3, BUCKET, "staging", "infra")).toEqual([]);
  });

  it("a corrupt record is left out of a listing instead of failing it", async () => {
    const s3 = await moto.current.clients().s3();
    await writeReleaseRecord(s3, BUCKET, {
      ...record("20261101T000000Z-000001", "2026-11-01T00:00:00.000Z"),
      env: "qa",
    });
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: "releases/qa/lambda/20261102T000000Z-000002.json",
        Body: "[]",
      }),
    );
    expect((await listReleaseRecords(s3, BUCKET, "qa", "lambda")).map((r) => r.releaseId)).toEqual([
      "20261101T000000Z-000001",
    ]);
    await expect(loadReleaseRecord(s3, BUCKET, "qa", "lambda", "20261102T000000Z-000002")).rejects.toThrow(
      /releases\/qa\/lambda\/20261102T000000Z-000002\.json is not a release record \(root: /,
    );
  });

  it("a record of an older version (no journal, no phase) loads with an empty journal", async () => {
    const s3 = await moto.current.clients().s3();
    const { journal: _journal, ...old } = record("20261103T000000Z-000003", "2026-11-03T00:00:00.000Z");
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: "releases/prod/lambda/20261103T000000Z-000003.json",
        Body: JSON.stringify(old),
      }),
    );
    const loaded = await loadReleaseRecord(s3, BUCKET, "prod", "lambda", "20261103T000000Z-000003");
    expect(loaded).toEqual({ ...old, journal: [] });
  });

  it("a record lacking a required field is refused, naming the field", async () => {
    const s3 = await moto.current.clients().s3();
    const { status: _status, ...partial } = record("20261104T000000Z-000004", "2026-11-04T00:00:00.000Z");
    await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: "releases/prod/lambda/20261104T000000Z-000004.json",
        Body: JSON.stringify(partial),
      }),
    );
    await expect(loadReleaseRecord(s3, BUCKET, "prod", "lambda", "20261104T000000Z-000004")).rejects.toThrow(
      /is not a release record \(status: /,
    );
  });

  it("outside text (error, warnings, health, recovery note) is redacted on the way to S3; facts stay exact", async () => {
    const s3 = await moto.current.clients().s3();
    const secret = "AKIAIOSFODNN7EXAMPLE";
    const r = releaseRecordSchema.parse({
      ...record("20261105T000000Z-000005", "2026-11-05T00:00:00.000Z"),
      status: "recovered",
      error: `upload failed with ${secret}`,
      warnings: [`warned about ${secret}`],
      health: { body: `echo ${secret}` },
      recovery: {
        outcome: "kept",
        by: "20261106T000000Z-000006",
        at: "2026-11-06T00:00:00.000Z",
        note: secret,
      },
      artifacts: { artifactKey: "backend/abc.zip" },
    });
    await writeReleaseRecord(s3, BUCKET, r);
    const raw = await (
      await s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: "releases/prod/lambda/20261105T000000Z-000005.json" }),
      )
    ).Body!.transformToString();
    expect(raw).not.toContain(secret);
    const loaded = await loadReleaseRecord(s3, BUCKET, "prod", "lambda", r.releaseId);
    expect(loaded).toMatchObject({
      error: "upload failed with [REDACTED]",
      warnings: ["warned about [REDACTED]"],
      recovery: { outcome: "kept", note: "[REDACTED]" },
      artifacts: { artifactKey: "backend/abc.zip" },
      planDigest: r.planDigest,
    });
  });
});
