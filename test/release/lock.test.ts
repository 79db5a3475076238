import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeEach, describe, expect, it } from "vitest";
import type { DeployError } from "../../src/core/errors.js";
import type { ToolContext } from "../../src/release/context.js";
import { acquireDeployLock, LOCK_TTL_MINUTES, readDeployLock } from "../../src/release/lock.js";
import type { Runtime } from "../../src/server/runtime.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";
import { rejectionOf } from "../support/rejection.js";
import { artifactBucketRuntime, toolContextFor } from "../support/runtime.js";

const moto = useMoto();
let counter = 0;
let bucket: string;
let clock: Date;
let runtime: Runtime;

function contextFor(rt: Runtime, envName = "prod", over: Partial<ToolContext> = {}): ToolContext {
  return toolContextFor(rt, { envName, ...over });
}

function runtimeWith(now: () => Date): Runtime {
  return artifactBucketRuntime({ moto: moto.current, bucket, now });
}

async function lockObjects(): Promise<string[]> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "locks/" }));
  return (out.Contents ?? []).map((o) => o.Key as string);
}

describe("deploy lock on moto", () => {
  beforeEach(async () => {
    bucket = `lock-test-${++counter}`;
    await createBucket(await moto.current.clients().s3(), bucket);
    clock = new Date("2026-11-25T13:00:00.000Z");
    runtime = runtimeWith(() => clock);
  });

  it("writes locks/<env>.json with holder, tool, release, start and expiry; release removes it", async () => {
    const ctx = contextFor(runtime);
    const lock = await acquireDeployLock(ctx, { tool: "deploy_lambda", releaseId: "R1", breakLock: false });
    expect(lock.key).toBe("locks/prod.json");
    const s3 = await moto.current.clients().s3();
    const body = JSON.parse(
      await (
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "locks/prod.json" }))
      ).Body!.transformToString(),
    );
    expect(body).toEqual({
      holder: "arn:aws:sts::123456789012:user/moto",
      tool: "deploy_lambda",
      releaseId: "R1",
      startedAt: "2026-11-25T13:00:00.000Z",
      expiresAt: new Date(clock.getTime() + LOCK_TTL_MINUTES * 60_000).toISOString(),
    });
    clock = new Date(clock.getTime() + 90_000);
    expect(await readDeployLock(ctx)).toMatchObject({ releaseId: "R1", stale: false, ageSeconds: 90 });
    await lock.release();
    expect(await lockObjects()).toEqual([]);
    expect(await readDeployLock(ctx)).toBeNull();
    // Releasing twice is harmless.
    await lock.release();
  });

  it("two concurrent attempts: exactly one wins, the loser's error names the holder and age", async () => {
    const other = runtimeWith(() => clock);
    const attempts = await Promise.allSettled([
      acquireDeployLock(contextFor(runtime), { tool: "deploy_lambda", releaseId: "A", breakLock: false }),
      acquireDeployLock(contextFor(other, "prod", { toolName: "deploy_frontend" }), {
        tool: "deploy_frontend",
        releaseId: "B",
        breakLock: false,
      }),
    ]);
    const won = attempts.filter((a) => a.status === "fulfilled");
    const lost = attempts.filter((a) => a.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const error = (lost[0] as PromiseRejectedResult).reason as DeployError;
    expect(error.code).toBe("LOCK_HELD");
    const winner = (await readDeployLock(contextFor(runtime)))!;
    expect(error.message).toContain("arn:aws:sts::123456789012:user/moto");
    expect(error.message).toContain(`running ${winner.tool} (release ${winner.releaseId})`);
    expect(error.message).toMatch(/started 0 s ago/);
    expect(error.message).toMatch(/Nothing was changed/);
    await (won[0] as PromiseFulfilledResult<{ release(): Promise<void> }>).value.release();
    expect(await lockObjects()).toEqual([]);
  });

  it("breakLock on a live lock is refused and leaves it in place", async () => {
    await acquireDeployLock(contextFor(runtime), {
      tool: "deploy_lambda",
      releaseId: "LIVE",
      breakLock: false,
    });
    const error = await rejectionOf(
      acquireDeployLock(contextFor(runtime), { tool: "rollback", releaseId: "X", breakLock: true }),
    );
    expect(error.code).toBe("REFUSED");
    expect(error.message).toMatch(/breakLock refused: the deploy lock on "prod" is live/);
    expect((await readDeployLock(contextFor(runtime)))?.releaseId).toBe("LIVE");
  });

  it("a stale lock blocks until broken with breakLock", async () => {
    await acquireDeployLock(contextFor(runtime), {
      tool: "deploy_lambda",
      releaseId: "OLD",
      breakLock: false,
    });
    clock = new Date(clock.getTime() + (LOCK_TTL_MINUTES + 5) * 60_000);
    const ctx = contextFor(runtime);
    expect(await readDeployLock(ctx)).toMatchObject({ releaseId: "OLD", stale: true });
    const error = await rejectionOf(
      acquireDeployLock(ctx, { tool: "deploy_lambda", releaseId: "NEW", breakLock: false }),
    );
    expect(error.code).toBe("LOCK_HELD");
    expect(error.message).toMatch(/It is stale .* breakLock: true on a confirmed call/);
    const lock = await acquireDeployLock(ctx, { tool: "deploy_lambda", releaseId: "NEW", breakLock: true });
    expect(await readDeployLock(ctx)).toMatchObject({ releaseId: "NEW", stale: false });
    await lock.release();
    expect(await lockObjects()).toEqual([]);
  });

  it("release never deletes a lock that is no longer ours", async () => {
    const first = await acquireDeployLock(contextFor(runtime), {
      tool: "deploy_lambda",
      releaseId: "FIRST",
      breakLock: false,
    });
    clock = new Date(clock.getTime() + (LOCK_TTL_MINUTES + 1) * 60_000);
    const second = await acquireDeployLock(contextFor(runtime), {
      tool: "deploy_lambda",
      releaseId: "SECOND",
      breakLock: true,
    });
    await first.release();
    expect((await readDeployLock(contextFor(runtime)))?.releaseId).toBe("SECOND");
    await second.release();
    expect(await lockObjects()).toEqual([]);
  });

  it("refresh pushes the expiry forward while the lock is ours, and refuses once it is not", async () => {
    const ctx = contextFor(runtime);
    const lock = await acquireDeployLock(ctx, {
      tool: "terraform_apply",
      releaseId: "LONG",
      breakLock: false,
    });
    clock = new Date(clock.getTime() + 50 * 60_000);
    expect(await lock.refresh()).toBe(true);
    clock = new Date(clock.getTime() + 50 * 60_000);
    expect(await readDeployLock(ctx)).toMatchObject({ releaseId: "LONG", stale: false, ageSeconds: 6000 });
    expect(await lock.refresh()).toBe(true);

    // Not refreshed for longer than the TTL: someone breaks it; our refresh must not overwrite theirs.
    clock = new Date(clock.getTime() + (LOCK_TTL_MINUTES + 1) * 60_000);
    const theirs = await acquireDeployLock(contextFor(runtimeWith(() => clock)), {
      tool: "deploy_lambda",
      releaseId: "THEIRS",
      breakLock: true,
    });
    expect(await lock.refresh()).toBe(false);
    expect(await readDeployLock(ctx)).toMatchObject({ releaseId: "THEIRS", stale: false });
    await lock.release();
    expect((await readDeployLock(ctx))?.releaseId).toBe("THEIRS");
    await theirs.release();
  });

  it("a corrupt lock object blocks deploys and counts as stale, so it can be broken", async () => {
    const s3 = await moto.current.clients().s3();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "locks/prod.json", Body: "garbage" }));
    const ctx = contextFor(runtime);
    expect(await readDeployLock(ctx)).toMatchObject({ holder: "unknown holder", stale: true });
    const error = await rejectionOf(
      acquireDeployLock(ctx, { tool: "deploy_lambda", releaseId: "N", breakLock: false }),
    );
    expect(error.code).toBe("LOCK_HELD");
    const lock = await acquireDeployLock(ctx, { tool: "deploy_lambda", releaseId: "N", breakLock: true });
    await lock.release();
    expect(await lockObjects()).toEqual([]);
  });

  it("locks of different envs are independent", async () => {
    const prod = await acquireDeployLock(contextFor(runtime), {
      tool: "t",
      releaseId: "P",
      breakLock: false,
    });
    const runtimeDev = artifactBucketRuntime({ moto: moto.current, bucket, envs: ["dev"] });
    const dev = await acquireDeployLock(contextFor(runtimeDev, "dev"), {
      tool: "t",
      releaseId: "D",
      breakLock: false,
    });
    expect((await lockObjects()).sort()).toEqual(["locks/dev.json", "locks/prod.json"]);
    await Promise.all([prod.release(), dev.release()]);
    expect(await lockObjects()).toEqual([]);
  });
});
