import { GetObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { Journal } from "../../src/release/journal.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";
import { bodyText } from "../support/s3-body.js";

/**
 * The journal's writes, counted at a proxy in front of moto and read back from it: a phase
 * entered with `enter` goes out with the next write, so a release's "locked" and its first
 * step's phase cost one record write, and nothing is lost on the way.
 */
const moto = useMoto();
const proxy = useFaultProxy(moto);
const BUCKET = `vyaparai-journal-${process.pid}`;
const AT = new Date("2026-12-07T10:00:00.000Z");

beforeAll(async () => {
  await createBucket(await moto.current.clients().s3(), BUCKET);
});

function initial(releaseId: string): ReleaseRecord {
  return {
    releaseId,
    env: "dev",
    component: "lambda",
    tool: "deploy_lambda",
    status: "in_progress",
    who: null,
    gitSha: null,
    startedAt: AT.toISOString(),
    finishedAt: null,
    planDigest: "digest",
    journal: [],
    artifacts: {},
    before: {},
    after: {},
    timings: {},
  } as ReleaseRecord;
}

const keyOf = (releaseId: string) => `releases/dev/lambda/${releaseId}.json`;

async function stored(releaseId: string): Promise<Record<string, unknown> | null> {
  const s3 = await moto.current.clients().s3();
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: keyOf(releaseId) }));
    return JSON.parse(await bodyText(out));
  } catch {
    return null;
  }
}

async function journalFor(releaseId: string) {
  const s3 = await proxy.current.clients().s3();
  const journal = new Journal(
    s3,
    BUCKET,
    initial(releaseId),
    () => AT,
    (phase) => `plan for ${phase}`,
    300,
  );
  const writes = () => proxy.current.count({ operation: "PutObject", key: keyOf(releaseId) });
  return { journal, writes };
}

const phasesOf = (record: Record<string, unknown> | null) =>
  (record?.journal as Array<{ phase: string }> | undefined)?.map((entry) => entry.phase);

describe("Journal: enter, advance, flush", () => {
  it("enter writes nothing; the next advance writes both phases and the facts in one PutObject", async () => {
    const id = "20261207T100000000Z-aaaaaa";
    const { journal, writes } = await journalFor(id);
    journal.enter("locked", { artifacts: { bytes: 42 } });
    expect(writes()).toBe(0);
    expect(await stored(id)).toBeNull();

    await journal.advance("preparing");
    expect(writes()).toBe(1);
    const record = await stored(id);
    expect(phasesOf(record)).toEqual(["locked", "preparing"]);
    expect(record).toMatchObject({
      phase: "preparing",
      recoveryPlan: "plan for preparing",
      artifacts: { bytes: 42 },
    });

    // Already there and written: nothing to send; flush has nothing left either.
    await journal.advance("preparing");
    await journal.flush();
    expect(writes()).toBe(1);

    await journal.finish("succeeded", {});
    expect(writes()).toBe(2);
    expect(await stored(id)).toMatchObject({ status: "succeeded", phase: "preparing" });
  });

  it("flush writes an entered phase alone, and an advance into the same phase still writes it", async () => {
    const flushed = await journalFor("20261207T100000000Z-bbbbbb");
    flushed.journal.enter("locked");
    await flushed.journal.flush();
    expect(flushed.writes()).toBe(1);
    expect(phasesOf(await stored("20261207T100000000Z-bbbbbb"))).toEqual(["locked"]);

    const same = await journalFor("20261207T100000000Z-cccccc");
    same.journal.enter("locked");
    await same.journal.advance("locked");
    expect(same.writes()).toBe(1);
    expect(await stored("20261207T100000000Z-cccccc")).toMatchObject({ phase: "locked" });
  });

  it("a write S3 refuses throws, keeps the entered phase unwritten, and the next advance carries it", async () => {
    const id = "20261207T100000000Z-dddddd";
    const { journal, writes } = await journalFor(id);
    journal.enter("locked");
    const refusal = proxy.current.add({
      match: { operation: "PutObject", key: keyOf(id) },
      action: { kind: "fail", status: 403, code: "AccessDenied" },
    });
    await expect(journal.advance("uploading")).rejects.toThrow(/could not be written before phase uploading/);
    refusal.remove();
    expect(await stored(id)).toBeNull();
    expect(journal.phase).toBe("locked");

    await journal.advance("uploading");
    expect(phasesOf(await stored(id))).toEqual(["locked", "uploading"]);
    expect(writes()).toBeGreaterThanOrEqual(2);
  });
});
