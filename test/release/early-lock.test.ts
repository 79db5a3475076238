import { rmSync } from "node:fs";
import { join } from "node:path";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { invokeTool } from "../../src/server/invoke.js";
import { deployFrontendTool } from "../../src/tools/deploy-frontend.js";
import type { DeployFrontendOutput } from "../../src/tools/flows/deploy-frontend.js";
import { createSite, type Site } from "../deploy/frontend-site.js";
import { writeViteDist } from "../support/dist-fixture.js";
import { useMoto } from "../support/moto.js";
import { bodyText } from "../support/s3-body.js";

/**
 * The early lock (release/early-lock.ts): a deploy_frontend without a build, in an env with
 * nothing to gate, takes the env's lock as it starts and plans under it. Read back from moto:
 * the lock is gone after every ending (a change, no change, a failed plan), a lock another
 * call holds is never touched, and nothing else is written when the call changes nothing.
 */
const moto = useMoto();

async function deploy(site: Site) {
  site.calls.length = 0;
  const result = await invokeTool(deployFrontendTool, { env: "dev", skipBuild: true }, site.runtime);
  const lockCalls = (command: string) =>
    site.calls.filter(
      (c) => c.bucket === site.artifactBucket && c.key === "locks/dev.json" && c.command === command,
    ).length;
  return {
    result,
    out: result.structured as unknown as DeployFrontendOutput,
    lockPuts: lockCalls("PutObjectCommand"),
    lockDeletes: lockCalls("DeleteObjectCommand"),
    // The usual path reads the lock before it plans (the interrupted-release check); a call
    // that took it early never needs to.
    lockReads: lockCalls("GetObjectCommand"),
    sitePuts: site.calls.filter((c) => c.bucket === site.bucket && c.command === "PutObjectCommand").length,
  };
}

async function s3(): Promise<S3Client> {
  return moto.current.clients().s3();
}

/** The lock object's text, or null when there is none. */
async function lockText(site: Site): Promise<string | null> {
  try {
    const out = await (await s3()).send(
      new GetObjectCommand({ Bucket: site.artifactBucket, Key: "locks/dev.json" }),
    );
    return bodyText(out);
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return null;
    throw error;
  }
}

async function recordKeys(site: Site): Promise<string[]> {
  const out = await (await s3()).send(
    new ListObjectsV2Command({ Bucket: site.artifactBucket, Prefix: "releases/dev/" }),
  );
  return (out.Contents ?? []).map((o) => o.Key as string).sort();
}

describe("deploy_frontend takes the lock as it starts (unprotected env, no build)", () => {
  let site: Site;

  beforeAll(async () => {
    site = await createSite(moto.current);
    writeViteDist(site.distDir, { files: 30 });
  });
  afterAll(() => rmSync(site.appRoot, { recursive: true, force: true }));

  it("a deploy holds the lock from its start and leaves none behind", async () => {
    const first = await deploy(site);
    expect(first.result.isError, first.result.text).toBe(false);
    expect(first.out.status).toBe("deployed");
    // One lock, taken once and released once: the release adopted the early lock.
    expect(first.lockPuts).toBe(1);
    expect(first.lockDeletes).toBe(1);
    expect(first.lockReads).toBe(0);
    expect(await lockText(site)).toBeNull();
    const records = await recordKeys(site);
    expect(records).toHaveLength(1);
    const record = JSON.parse(
      await bodyText(
        await (await s3()).send(new GetObjectCommand({ Bucket: site.artifactBucket, Key: records[0] })),
      ),
    );
    expect(record).toMatchObject({ status: "succeeded", releaseId: first.out.releaseId });
  });

  it("a deploy with nothing to change releases the lock it planned under and writes no record", async () => {
    const before = await recordKeys(site);
    const again = await deploy(site);
    expect(again.result.isError, again.result.text).toBe(false);
    expect(again.out.status).toBe("unchanged");
    expect(again.lockPuts).toBe(1);
    expect(again.lockDeletes).toBe(1);
    expect(again.lockReads).toBe(0);
    expect(again.sitePuts).toBe(0);
    expect(await lockText(site)).toBeNull();
    expect(await recordKeys(site)).toEqual(before);
  });

  it("a plan that fails under the lock (no index.html) releases it and writes nothing else", async () => {
    const before = await recordKeys(site);
    rmSync(join(site.distDir, "index.html"));
    try {
      const broken = await deploy(site);
      expect(broken.result.isError).toBe(true);
      expect(broken.result.text).toContain("index.html");
      expect(broken.sitePuts).toBe(0);
      expect(await lockText(site)).toBeNull();
      expect(await recordKeys(site)).toEqual(before);
    } finally {
      writeViteDist(site.distDir, { files: 30 });
    }
  });

  it("another call's live lock is never touched: no change still answers unchanged, a change is refused", async () => {
    const now = Date.now();
    const foreign = JSON.stringify({
      nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
      holder: "arn:aws:iam::123456789012:user/other",
      tool: "deploy_lambda",
      component: "lambda",
      releaseId: "20261207T120000000Z-abc123",
      startedAt: new Date(now - 5_000).toISOString(),
      expiresAt: new Date(now + 600_000).toISOString(),
      ttlSeconds: 900,
    });
    await (await s3()).send(
      new PutObjectCommand({
        Bucket: site.artifactBucket,
        Key: "locks/dev.json",
        Body: foreign,
        ContentType: "application/json",
      }),
    );
    const before = await recordKeys(site);
    try {
      const unchanged = await deploy(site);
      expect(unchanged.result.isError, unchanged.result.text).toBe(false);
      expect(unchanged.out.status).toBe("unchanged");
      expect(unchanged.lockDeletes).toBe(0);
      expect(await lockText(site)).toBe(foreign);

      writeViteDist(site.distDir, { files: 30, revisions: { 0: 1 } });
      const refused = await deploy(site);
      expect(refused.result.isError).toBe(true);
      expect(refused.result.text).toMatch(/Another deploy holds the lock/);
      expect(refused.sitePuts).toBe(0);
      expect(refused.lockDeletes).toBe(0);
      expect(await lockText(site)).toBe(foreign);
      expect(await recordKeys(site)).toEqual(before);
    } finally {
      await (await s3()).send(
        new DeleteObjectCommand({ Bucket: site.artifactBucket, Key: "locks/dev.json" }),
      );
    }
  });

  it("a lock create that fails goes the usual way: the release takes its own lock, and none is left", async () => {
    writeViteDist(site.distDir, { files: 30, revisions: { 1: 2 } });
    let failed = 0;
    site.failWhen((call) => {
      if (call.command !== "PutObjectCommand" || call.key !== "locks/dev.json" || failed > 0) return false;
      failed++;
      return true;
    });
    try {
      const call = await deploy(site);
      expect(failed).toBe(1);
      expect(call.result.isError, call.result.text).toBe(false);
      expect(call.out.status).toBe("deployed");
      // The usual path read the lock, then took it (the failed try is not recorded as sent).
      expect(call.lockReads).toBeGreaterThan(0);
      expect(call.lockPuts).toBe(1);
    } finally {
      site.failWhen(null);
    }
    expect(await lockText(site)).toBeNull();
    const records = await recordKeys(site);
    const newest = JSON.parse(
      await bodyText(
        await (await s3()).send(
          new GetObjectCommand({ Bucket: site.artifactBucket, Key: records[records.length - 1] }),
        ),
      ),
    );
    expect(newest).toMatchObject({ status: "succeeded" });
  });

  it("a search that fails under the early lock releases it and goes the usual way", async () => {
    writeViteDist(site.distDir, { files: 30, revisions: { 1: 3 } });
    // The search lists the release records as the lock is created: the first listing of the
    // artifact bucket after the early lock's create is the search's.
    let failed = 0;
    let lockSent = false;
    site.failWhen((call) => {
      if (call.command === "PutObjectCommand" && call.key === "locks/dev.json") lockSent = true;
      if (!lockSent || failed > 0 || call.command !== "ListObjectsV2Command") return false;
      if (!(call as { bucket?: string }).bucket?.startsWith("artifacts-")) return false;
      failed++;
      return true;
    });
    try {
      const call = await deploy(site);
      expect(failed).toBe(1);
      expect(call.result.isError, call.result.text).toBe(false);
      expect(call.out.status).toBe("deployed");
      // The early lock was released, then the release took its own.
      expect(call.lockPuts).toBe(2);
      expect(call.lockDeletes).toBe(2);
    } finally {
      site.failWhen(null);
    }
    expect(await lockText(site)).toBeNull();
  });
});
