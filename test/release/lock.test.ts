import type { S3Client } from "@aws-sdk/client-s3";
import { beforeEach, describe, expect, it } from "vitest";
import type { DeployError } from "../../src/core/errors.js";
import {
  acquireDeployLock,
  DEFAULT_LOCK_TTL_SECONDS,
  type HeldLock,
  type LockDeps,
  lockKey,
  MAX_LOCK_TTL_SECONDS,
  readDeployLock,
} from "../../src/release/lock.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";
import { rejectionOf } from "../support/rejection.js";
import { interceptS3, internalError, listKeys, putText, readObject } from "./s3-probe.js";

const moto = useMoto();
const HOLDER = "arn:aws:sts::123456789012:user/moto";
const TTL = DEFAULT_LOCK_TTL_SECONDS;

let counter = 0;
let bucket: string;
let s3: S3Client;
let clock: Date;
let logs: string[];

function deps(over: Partial<LockDeps> = {}): LockDeps {
  return { s3, bucket, envName: "prod", now: () => clock, log: (m) => logs.push(m), ...over };
}

function acquire(
  releaseId: string,
  over: { breakLock?: boolean; ttlSeconds?: number; deps?: LockDeps } = {},
) {
  return acquireDeployLock(over.deps ?? deps(), {
    holder: HOLDER,
    tool: "deploy_lambda",
    component: "lambda",
    releaseId,
    breakLock: over.breakLock ?? false,
    ttlSeconds: over.ttlSeconds ?? TTL,
  });
}

const advance = (seconds: number) => {
  clock = new Date(clock.getTime() + seconds * 1000);
};

async function lockObject(env = "prod") {
  return readObject(s3, bucket, lockKey(env));
}

async function lockBody(env = "prod"): Promise<Record<string, unknown> | null> {
  const found = await lockObject(env);
  return found ? (JSON.parse(found.body) as Record<string, unknown>) : null;
}

/** A lock written by someone else (another process, an old version, a person). */
async function plantLock(body: Record<string, unknown> | string): Promise<void> {
  await putText(s3, bucket, lockKey("prod"), typeof body === "string" ? body : JSON.stringify(body));
}

describe("deploy lock on moto", () => {
  beforeEach(async () => {
    bucket = `lock-test-${++counter}`;
    s3 = await moto.current.clients().s3();
    await createBucket(s3, bucket);
    clock = new Date("2026-11-25T13:00:00.000Z");
    logs = [];
  });

  it("writes locks/<env>.json with an owner nonce, holder, tool, release, start and expiry; release removes it", async () => {
    const lock = await acquire("R1");
    expect(lock.key).toBe("locks/prod.json");
    expect(lock.replaced).toBeNull();
    expect(await lockBody()).toEqual({
      nonce: expect.stringMatching(/^[0-9a-f]{32}$/),
      holder: HOLDER,
      tool: "deploy_lambda",
      component: "lambda",
      releaseId: "R1",
      startedAt: "2026-11-25T13:00:00.000Z",
      expiresAt: new Date(clock.getTime() + TTL * 1000).toISOString(),
      ttlSeconds: TTL,
    });
    advance(90);
    expect(await readDeployLock(deps())).toEqual({
      holder: HOLDER,
      tool: "deploy_lambda",
      component: "lambda",
      releaseId: "R1",
      startedAt: "2026-11-25T13:00:00.000Z",
      expiresAt: "2026-11-25T13:02:00.000Z",
      state: "live",
      ageSeconds: 90,
    });
    await lock.release();
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
    expect(await readDeployLock(deps())).toBeNull();
    // Releasing twice is harmless.
    await lock.release();
  });

  it("the TTL is bounded: at most MAX_LOCK_TTL_SECONDS, at least one second", async () => {
    const long = await acquire("LONG", { ttlSeconds: 10 * MAX_LOCK_TTL_SECONDS });
    expect((await lockBody())?.expiresAt).toBe(
      new Date(clock.getTime() + MAX_LOCK_TTL_SECONDS * 1000).toISOString(),
    );
    expect((await readDeployLock(deps()))?.state).toBe("live");
    await long.release();
    const short = await acquire("SHORT", { ttlSeconds: 0 });
    expect((await lockBody())?.expiresAt).toBe(new Date(clock.getTime() + 1000).toISOString());
    await short.release();
  });

  it("a second acquire is refused while the lock is live; the error names no holder and the lock is untouched", async () => {
    const first = await acquire("FIRST");
    const before = await lockObject();
    advance(TTL - 1);
    const error = await rejectionOf(acquire("SECOND"));
    expect(error.code).toBe("LOCK_HELD");
    // The holder is outside text: it goes in the structured detail, never into the message.
    expect(error.message).not.toContain(HOLDER);
    // "FIRST" is not a release id's shape, so the message does not quote it.
    expect(error.message).toContain("a release with an unreadable id");
    expect(error.message).not.toContain("FIRST");
    expect(error.message).toMatch(/Nothing was changed\.$/);
    expect(error.detail).toEqual({
      reason: "lock_held",
      lock: expect.objectContaining({
        holder: HOLDER,
        releaseId: "FIRST",
        state: "live",
        ageSeconds: TTL - 1,
      }),
    });
    expect(await lockObject()).toEqual(before);
    await first.release();
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
  });

  it("two concurrent attempts: exactly one wins, the loser gets LOCK_HELD and the winner's lock stays", async () => {
    const attempts = await Promise.allSettled([acquire("A"), acquire("B")]);
    const won = attempts.filter((a): a is PromiseFulfilledResult<HeldLock> => a.status === "fulfilled");
    const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const error = lost[0]!.reason as DeployError;
    expect(error.code).toBe("LOCK_HELD");
    const winner = await readDeployLock(deps());
    expect(winner?.state).toBe("live");
    expect(error.detail?.lock).toMatchObject({ releaseId: winner?.releaseId });
    await won[0]!.value.release();
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
  });

  it("an expired lock is taken over without breakLock, and the dead holder can no longer touch it", async () => {
    const dead = await acquire("DEAD");
    advance(TTL + 1);
    expect(await readDeployLock(deps())).toMatchObject({ releaseId: "DEAD", state: "expired" });
    const next = await acquire("NEXT");
    expect(next.replaced).toMatchObject({
      releaseId: "DEAD",
      state: "expired",
      how: "taken_over",
      holder: HOLDER,
    });
    expect(logs.some((m) => /Took over the expired deploy lock on prod left by release DEAD/.test(m))).toBe(
      true,
    );
    expect(await readDeployLock(deps())).toMatchObject({ releaseId: "NEXT", state: "live" });

    // The dead holder wakes up: its heartbeat and its release must leave the new lock alone.
    const taken = await lockObject();
    expect(await dead.refresh()).toBe(false);
    await dead.release();
    expect(await lockObject()).toEqual(taken);
    await next.release();
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
  });

  it("a lock whose expiry lies beyond the maximum TTL is invalid and taken over", async () => {
    await plantLock({
      nonce: "f".repeat(32),
      holder: "someone",
      tool: "deploy_lambda",
      component: "lambda",
      releaseId: "FOREVER",
      startedAt: clock.toISOString(),
      expiresAt: "2099-01-01T00:00:00.000Z",
      ttlSeconds: 60,
    });
    expect(await readDeployLock(deps())).toMatchObject({ releaseId: "FOREVER", state: "invalid" });
    const lock = await acquire("NEW");
    expect(lock.replaced).toMatchObject({ releaseId: "FOREVER", state: "invalid", how: "taken_over" });
    expect(await lockBody()).toMatchObject({ releaseId: "NEW" });
    await lock.release();
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
  });

  it("a lock just within the maximum TTL (plus skew) is still live", async () => {
    await plantLock({
      nonce: "e".repeat(32),
      holder: "someone",
      tool: "t",
      component: null,
      releaseId: "NEAR",
      startedAt: clock.toISOString(),
      expiresAt: new Date(clock.getTime() + MAX_LOCK_TTL_SECONDS * 1000).toISOString(),
      ttlSeconds: MAX_LOCK_TTL_SECONDS,
    });
    expect((await readDeployLock(deps()))?.state).toBe("live");
    expect((await rejectionOf(acquire("NEW"))).code).toBe("LOCK_HELD");
  });

  it("a corrupt lock object reads as invalid (unknown holder) and is taken over", async () => {
    await plantLock("garbage");
    expect(await readDeployLock(deps())).toMatchObject({ holder: "unknown holder", state: "invalid" });
    const lock = await acquire("N");
    expect(lock.replaced).toMatchObject({ state: "invalid", how: "taken_over" });
    await lock.release();
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
  });

  it("breakLock breaks a live lock (how: broken); the broken holder's release leaves the new lock", async () => {
    const old = await acquire("OLD");
    const lock = await acquire("BREAKER", { breakLock: true });
    expect(lock.replaced).toMatchObject({ releaseId: "OLD", state: "live", how: "broken" });
    expect(logs.some((m) => /Broke the live deploy lock on prod \(release OLD\)/.test(m))).toBe(true);
    expect(await lockBody()).toMatchObject({ releaseId: "BREAKER" });
    await old.release();
    expect(await lockBody()).toMatchObject({ releaseId: "BREAKER" });
    expect(await old.refresh()).toBe(false);
    expect(await lockBody()).toMatchObject({ releaseId: "BREAKER" });
    await lock.release();
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
  });

  it("breakLock on an expired lock is an ordinary takeover", async () => {
    await acquire("OLD");
    advance(TTL);
    const lock = await acquire("NEW", { breakLock: true });
    expect(lock.replaced).toMatchObject({ releaseId: "OLD", state: "expired", how: "taken_over" });
    await lock.release();
  });

  it("release never deletes a lock whose nonce is not ours", async () => {
    const ours = await acquire("OURS");
    // Same release id and holder, another owner nonce: not ours.
    await plantLock({ ...(await lockBody()), nonce: "a".repeat(32) });
    const theirs = await lockObject();
    await ours.release();
    expect(await lockObject()).toEqual(theirs);
    expect(logs.some((m) => /now belongs to release OURS; left in place/.test(m))).toBe(true);
  });

  it("release is one delete conditional on the ETag last written, also after a refresh", async () => {
    const sent: string[] = [];
    const counting = interceptS3(s3, (command) => {
      sent.push(`${command.name} ${command.input.IfMatch ? "if-match" : ""}`.trim());
      return undefined;
    });
    const lock = await acquire("ONE", { deps: deps({ s3: counting }) });
    expect(await lock.refresh()).toBe(true);
    sent.length = 0;
    await lock.release();
    expect(sent).toEqual(["DeleteObjectCommand if-match"]);
    expect(await lockObject()).toBeNull();
  });

  it("a release whose delete landed but whose answer was lost reads the lock, finds it gone, and succeeds", async () => {
    let dropped = 0;
    const sent: string[] = [];
    const losing = interceptS3(s3, (command, send) => {
      sent.push(command.name);
      if (command.name !== "DeleteObjectCommand" || dropped++ > 0) return undefined;
      return send().then(() => Promise.reject(internalError()));
    });
    const lock = await acquire("LOST", { deps: deps({ s3: losing }) });
    await lock.release();
    expect(dropped).toBe(1);
    expect(await lockObject()).toBeNull();
    // The fallback read saw nothing to delete, so no second delete was sent.
    expect(sent.filter((name) => name === "DeleteObjectCommand")).toHaveLength(1);
    expect(sent.at(-1)).toBe("GetObjectCommand");
    // The env is free for the next caller.
    const next = await acquire("NEXT");
    await next.release();
  });

  it("refresh pushes the expiry forward (read back) while ours, so a long release never expires", async () => {
    const lock = await acquire("LONG");
    for (let i = 0; i < 10; i++) {
      advance(TTL / 2);
      expect(await lock.refresh()).toBe(true);
      expect(await lockBody()).toMatchObject({
        releaseId: "LONG",
        startedAt: "2026-11-25T13:00:00.000Z",
        expiresAt: new Date(clock.getTime() + TTL * 1000).toISOString(),
      });
    }
    // Five TTLs after the start, the lock is still live and still refused to others.
    expect(await readDeployLock(deps())).toMatchObject({ state: "live", ageSeconds: 5 * TTL });
    expect((await rejectionOf(acquire("OTHER"))).code).toBe("LOCK_HELD");
    await lock.release();
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
  });

  it("refresh returns false and writes nothing once another nonce holds the lock or it is gone", async () => {
    const lock = await acquire("MINE");
    advance(TTL + 1);
    const theirs = await acquire("THEIRS");
    const before = await lockObject();
    expect(await lock.refresh()).toBe(false);
    expect(await lockObject()).toEqual(before);
    await theirs.release();
    // Gone altogether: a refresh must not bring our lock back.
    expect(await lock.refresh()).toBe(false);
    expect(await lockObject()).toBeNull();
  });

  it("a 412 on create whose stored nonce is ours means our first write landed: we hold the lock", async () => {
    let lockPuts = 0;
    const retrying = interceptS3(s3, (command, send) => {
      if (command.name !== "PutObjectCommand" || command.input.Key !== "locks/prod.json") return undefined;
      if (++lockPuts > 1) return undefined;
      // The first answer is lost and the SDK sends the same request again: it meets our own lock.
      return send().then(send);
    });
    const lock = await acquire("R", { deps: deps({ s3: retrying }) });
    expect(lock.replaced).toBeNull();
    expect(await lockBody()).toMatchObject({ releaseId: "R" });
    advance(30);
    expect(await lock.refresh()).toBe(true);
    expect(await lockBody()).toMatchObject({
      expiresAt: new Date(clock.getTime() + TTL * 1000).toISOString(),
    });
    await lock.release();
    expect(await lockObject()).toBeNull();
  });

  it("a create that landed but whose answer failed leaves no lock of ours behind", async () => {
    const failing = interceptS3(s3, (command, send) => {
      if (command.name !== "PutObjectCommand" || command.input.Key !== "locks/prod.json") return undefined;
      return send().then(() => Promise.reject(internalError()));
    });
    const error = await rejectionOf(acquire("R", { deps: deps({ s3: failing }) }));
    expect(error.code).toBe("AWS_ERROR");
    expect(await lockObject()).toBeNull();
    // The env is free for the next caller.
    const next = await acquire("NEXT");
    await next.release();
  });

  it("two callers taking over one expired lock at once: exactly one gets it", async () => {
    await acquire("DEAD");
    advance(TTL + 1);
    const attempts = await Promise.allSettled([acquire("A"), acquire("B")]);
    const won = attempts.filter((a): a is PromiseFulfilledResult<HeldLock> => a.status === "fulfilled");
    expect(won).toHaveLength(1);
    expect(won[0]!.value.replaced).toMatchObject({ releaseId: "DEAD", how: "taken_over" });
    const lost = attempts.find((a): a is PromiseRejectedResult => a.status === "rejected")!;
    expect((lost.reason as DeployError).code).toBe("LOCK_HELD");
    const holder = (await lockBody())?.releaseId;
    expect(["A", "B"]).toContain(holder);
    const seenByLoser = (lost.reason as DeployError).detail?.lock as { releaseId: string } | undefined;
    if (seenByLoser) expect(seenByLoser.releaseId).toBe(holder);
    await won[0]!.value.release();
    expect(await lockObject()).toBeNull();
  });

  it("locks of different envs are independent", async () => {
    const prod = await acquire("P");
    const dev = await acquire("D", { deps: deps({ envName: "dev" }) });
    expect(await listKeys(s3, bucket, "locks/")).toEqual(["locks/dev.json", "locks/prod.json"]);
    await Promise.all([prod.release(), dev.release()]);
    expect(await listKeys(s3, bucket, "locks/")).toEqual([]);
  });
});
