import { GetObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { listReleaseRecords, loadReleaseRecord } from "../../src/release/records.js";
import { invokeTool } from "../../src/server/invoke.js";
import type { RollbackOutput } from "../../src/tools/flows/rollback.js";
import { rollbackTool } from "../../src/tools/rollback.js";
import { type DistFixture, rebuildWithOneChunkChanged, writeViteDist } from "../support/dist-fixture.js";
import { useMoto } from "../support/moto.js";
import {
  createSite,
  deploy,
  exists,
  getBytes,
  invalidationPaths,
  liveIndexIsWhole,
  type Site,
  sha256,
  writes,
} from "./frontend-site.js";

const moto = useMoto();

async function rollback(site: Site, args: Record<string, unknown> = {}) {
  site.calls.length = 0;
  const result = await invokeTool(
    rollbackTool,
    { env: site.env, component: "frontend", ...args },
    site.runtime,
  );
  return { result, out: result.structured as unknown as RollbackOutput };
}

describe("a deploy whose upload fails half way", () => {
  let site: Site;
  let live: DistFixture;

  beforeAll(async () => {
    site = await createSite(moto.current);
    live = writeViteDist(site.distDir, { files: 200 });
    expect((await deploy(site)).out.status).toBe("deployed");
  });

  it("never puts an index.html live that references a missing asset, and a retry finishes the job", async () => {
    const next = writeViteDist(site.distDir, { files: 200, seed: "next-build" });
    const doomed = next.chunks[60] as string;
    // One asset never arrives, so the new index.html must never be written at all.
    let indexWrites = 0;
    site.failWhen((call) => {
      if (call.key === "index.html" && call.command === "PutObjectCommand") indexWrites++;
      return call.command === "PutObjectCommand" && call.key === doomed;
    });
    const { result, out } = await deploy(site);
    site.failWhen(null);
    // A release that did not go live is an error result, with its full structured output.
    expect(result.isError).toBe(true);
    expect(out.status).toBe("failed");
    expect(out.failure).toMatch(/^upload-assets: .*injected: connection reset/);
    expect(out.live?.entryPoints).toBe("previous");
    expect(indexWrites).toBe(0);
    expect(writes(site)).not.toContain("sw.js");
    // Read back: the previous index.html, byte for byte, with every asset it references.
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(live.files.get("index.html"));
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
    expect(await exists(site, site.bucket, doomed)).toBe(false);
    const s3 = await moto.current.clients().s3();
    const [failed] = await listReleaseRecords(s3, site.artifactBucket, "dev", "frontend", { limit: 1 });
    expect(failed).toMatchObject({
      releaseId: out.releaseId,
      status: "failed",
      after: { indexHtmlSha256: sha256(live.files.get("index.html") as Buffer), switched: false },
    });
    // The deploy lock was released: the retry runs, and sends only what is still missing.
    const uploadedBefore = writes(site).length;
    const retry = await deploy(site);
    expect(retry.out.status).toBe("deployed");
    expect(retry.out.plan.upload).toBe(out.plan.upload - uploadedBefore);
    expect(writes(site)).toContain(doomed);
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(next.files.get("index.html"));
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
  });
});

describe("rollback of the frontend", () => {
  let site: Site;
  let releaseA: DistFixture;
  let releaseB: DistFixture;
  let idA: string;
  let idB: string;
  let oldChunk: string;

  beforeAll(async () => {
    site = await createSite(moto.current);
    releaseA = writeViteDist(site.distDir, { files: 120 });
    idA = (await deploy(site)).out.releaseId as string;
    const rebuilt = rebuildWithOneChunkChanged(releaseA);
    releaseB = rebuilt.fixture;
    oldChunk = rebuilt.oldChunk;
    // prune: A's chunk is deleted at once (kept in the content store first).
    const b = await deploy(site, { prune: true });
    expect(b.out.plan.deleteFiles).toEqual([oldChunk]);
    idB = b.out.releaseId as string;
    expect(await exists(site, site.bucket, oldChunk)).toBe(false);
  });

  it("a dry run names both releases and changes nothing", async () => {
    const { out } = await rollback(site, { dryRun: true });
    expect(out).toMatchObject({ status: "planned", from: idB, to: idA });
    expect(out.plan).toMatchObject({ upload: 3 });
    expect(writes(site)).toEqual([]);
  });

  it("restores the previous index.html byte for byte, and the pruned chunk, server-side", async () => {
    const { result, out } = await rollback(site);
    expect(result.isError, result.text).toBe(false);
    expect(out).toMatchObject({ status: "rolled_back", from: idB, to: idA });
    for (const key of ["index.html", "sw.js", oldChunk])
      expect(await getBytes(site, site.bucket, key), key).toEqual(releaseA.files.get(key));
    // Restored with CopyObject from the content store: nothing was uploaded from disk.
    expect(site.calls.filter((c) => c.command === "PutObjectCommand" && c.bucket === site.bucket)).toEqual(
      [],
    );
    const copies = site.calls.filter((c) => c.command === "CopyObjectCommand" && c.bucket === site.bucket);
    expect(copies.map((c) => c.key)).toEqual([oldChunk, "sw.js", "index.html"]);
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
    const s3 = await moto.current.clients().s3();
    const head = await s3.send(new GetObjectCommand({ Bucket: site.bucket, Key: "index.html" }));
    expect([head.ContentType, head.CacheControl, head.Metadata?.sha256]).toEqual([
      "text/html; charset=utf-8",
      "no-cache",
      sha256(releaseA.files.get("index.html") as Buffer),
    ]);
    const health = out.health as { invalidation: { id: string } };
    expect(await invalidationPaths(site, health.invalidation.id)).toEqual(["/", "/index.html", "/sw.js"]);
    const record = await loadReleaseRecord(
      s3,
      site.artifactBucket,
      "dev",
      "frontend",
      out.releaseId as string,
    );
    expect(record).toMatchObject({
      tool: "rollback",
      status: "succeeded",
      restoredFrom: idA,
      after: { indexHtmlSha256: sha256(releaseA.files.get("index.html") as Buffer) },
    });
  });

  it("rolls forward to a named release, and is a no-op when that release is already live", async () => {
    const { out } = await rollback(site, { to: idB });
    expect(out).toMatchObject({ status: "rolled_back", to: idB });
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(releaseB.files.get("index.html"));
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
    const again = await rollback(site, { to: idB });
    expect(again.out.status).toBe("unchanged");
    expect(writes(site)).toEqual([]);
  });

  it("refuses an unknown release id with a message saying where to look", async () => {
    const { result } = await rollback(site, { to: "20200101T000000Z-abcdef" });
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/no frontend release 20200101T000000Z-abcdef in dev.*deploy_status/);
  });
});
