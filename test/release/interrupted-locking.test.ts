import { beforeAll, describe, expect, it } from "vitest";
import { findInterruptedAsLocking } from "../../src/release/interrupted.js";
import { listReleaseRecords, writeReleaseRecord } from "../../src/release/records.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";

/**
 * The interrupted-release search of a call that is taking the lock (release/interrupted.ts):
 * it lists while the lock is created, answers only once the lock is held, and judges under
 * the lock — every in_progress record but the caller's own is interrupted.
 */
const moto = useMoto();
const BUCKET = "interrupted-locking-test";
const OURS = "20261207T110000000Z-0000aa";

function record(releaseId: string, env: string, status: ReleaseRecord["status"]): ReleaseRecord {
  return {
    releaseId,
    env,
    component: "frontend",
    tool: "deploy_frontend",
    status,
    who: null,
    gitSha: null,
    startedAt: "2026-12-07T10:00:00.000Z",
    finishedAt: status === "in_progress" ? null : "2026-12-07T10:00:02.000Z",
    planDigest: "c".repeat(64),
    journal: [],
    artifacts: {},
    before: {},
    after: {},
    timings: {},
  };
}

function deferred(): { promise: Promise<void>; resolve(): void; reject(error: Error): void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function s3() {
  return moto.current.clients().s3();
}

describe("findInterruptedAsLocking", () => {
  beforeAll(async () => {
    const client = await s3();
    await createBucket(client, BUCKET);
    await writeReleaseRecord(client, BUCKET, record("20261207T100000000Z-000001", "quiet", "succeeded"));
    await writeReleaseRecord(client, BUCKET, record(OURS, "quiet", "in_progress"));
    await writeReleaseRecord(client, BUCKET, record("20261207T100000000Z-000002", "busy", "succeeded"));
    await writeReleaseRecord(client, BUCKET, record("20261207T100500000Z-000003", "busy", "in_progress"));
  });

  it("answers only once the lock is held, and finds nothing when only the caller's own record is in progress", async () => {
    const lock = deferred();
    let answered = false;
    const search = findInterruptedAsLocking(await s3(), BUCKET, "quiet", OURS, lock.promise).then((found) => {
      answered = true;
      return found;
    });
    // The same listing the search makes has answered by now; the search still waits for the lock.
    expect(await listReleaseRecords(await s3(), BUCKET, "quiet", "frontend")).toHaveLength(2);
    expect(answered).toBe(false);
    lock.resolve();
    expect(await search).toEqual([]);
  });

  it("judges another release's in_progress record, once the lock is held, as interrupted", async () => {
    const lock = deferred();
    const search = findInterruptedAsLocking(await s3(), BUCKET, "busy", OURS, lock.promise);
    lock.resolve();
    const found = await search;
    expect(found.map((f) => f.record.releaseId)).toEqual(["20261207T100500000Z-000003"]);
    expect(found[0]?.why).toBe("this call holds the env's lock");
  });

  it("fails with the lock when taking it failed", async () => {
    const lock = deferred();
    const search = findInterruptedAsLocking(await s3(), BUCKET, "busy", OURS, lock.promise);
    lock.reject(new Error("lock held"));
    await expect(search).rejects.toThrow("lock held");
  });
});
