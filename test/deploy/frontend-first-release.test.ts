import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { loadReleaseRecord } from "../../src/release/records.js";
import { invokeTool } from "../../src/server/invoke.js";
import type { RollbackOutput } from "../../src/tools/flows/rollback.js";
import { rollbackTool } from "../../src/tools/rollback.js";
import { type DistFixture, writeViteDist } from "../support/dist-fixture.js";
import { useMoto } from "../support/moto.js";
import {
  createSite,
  deploy,
  exists,
  getBytes,
  liveIndexIsWhole,
  readAll,
  type Site,
  sha256,
} from "./frontend-site.js";

/**
 * The first frontend release made by this tool replaces a site no release recorded (a hand
 * `aws s3 sync`). A rollback without `to` right after it puts that site back, byte for byte.
 */

const moto = useMoto();

/** What `aws s3 sync` leaves: a guessed Content-Type, no Cache-Control, no sha256 metadata. */
function syncContentType(key: string): string {
  if (key.endsWith(".html")) return "text/html";
  if (key.endsWith(".js")) return "text/javascript";
  if (key.endsWith(".css")) return "text/css";
  if (key.endsWith(".svg")) return "image/svg+xml";
  return "binary/octet-stream";
}

async function syncByHand(site: Site, build: DistFixture): Promise<void> {
  const s3 = await moto.current.clients().s3();
  for (const [key, body] of build.files) {
    await s3.send(
      new PutObjectCommand({ Bucket: site.bucket, Key: key, Body: body, ContentType: syncContentType(key) }),
    );
  }
}

async function rollback(site: Site, args: Record<string, unknown> = {}) {
  site.calls.length = 0;
  const result = await invokeTool(
    rollbackTool,
    { env: site.env, component: "frontend", ...args },
    site.runtime,
  );
  return { result, out: result.structured as unknown as RollbackOutput };
}

describe("rollback right after the first frontend release", () => {
  let site: Site;
  let byHand: DistFixture;
  let first: DistFixture;
  let firstId: string;

  beforeAll(async () => {
    site = await createSite(moto.current);
    byHand = writeViteDist(mkdtempSync(join(tmpdir(), "vyaparai-hand-")), { files: 40, seed: "hand-build" });
    await syncByHand(site, byHand);
    first = writeViteDist(site.distDir, { files: 40 });
    // prune: the hand build's assets are deleted at once, so they must have been kept first.
    const deployed = await deploy(site, { prune: true });
    expect(deployed.result.isError, deployed.result.text).toBe(false);
    expect(deployed.out.status).toBe("deployed");
    firstId = deployed.out.releaseId as string;
    const oldAssets = [...byHand.files.keys()].filter((key) => key.startsWith("assets/"));
    expect(oldAssets.length).toBeGreaterThan(10);
    for (const key of oldAssets) expect(await exists(site, site.bucket, key), key).toBe(false);
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(first.files.get("index.html"));
  });

  it("the first release's record keeps the site it replaced", async () => {
    const s3 = await moto.current.clients().s3();
    const record = await loadReleaseRecord(s3, site.artifactBucket, site.env, "frontend", firstId);
    const before = record?.before as {
      manifest?: Record<string, { sha256: string }>;
      indexHtmlSha256?: string;
    };
    expect(Object.keys(before.manifest ?? {}).sort()).toEqual([...byHand.files.keys()].sort());
    for (const [key, body] of byHand.files) expect(before.manifest?.[key]?.sha256, key).toBe(sha256(body));
    expect(before.indexHtmlSha256).toBe(sha256(byHand.files.get("index.html") as Buffer));
  });

  it("a dry run names the pre-release site as the target and changes nothing", async () => {
    const { result, out } = await rollback(site, { dryRun: true });
    expect(result.isError, result.text).toBe(false);
    expect(out).toMatchObject({ status: "planned", from: firstId, to: `the site before release ${firstId}` });
    expect(
      site.calls.filter((c) => c.command === "PutObjectCommand" || c.command === "CopyObjectCommand"),
    ).toEqual([]);
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(first.files.get("index.html"));
  });

  it("puts every file of the hand-deployed site back, byte for byte, with its own headers", async () => {
    const { result, out } = await rollback(site);
    expect(result.isError, result.text).toBe(false);
    expect(out).toMatchObject({
      status: "rolled_back",
      from: firstId,
      to: `the site before release ${firstId}`,
    });
    const live = await readAll(site, site.bucket);
    for (const [key, body] of byHand.files) expect(live.get(key), key).toEqual(body);
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
    const s3 = await moto.current.clients().s3();
    const index = await s3.send(new HeadObjectCommand({ Bucket: site.bucket, Key: "index.html" }));
    expect([index.ContentType, index.CacheControl]).toEqual(["text/html", undefined]);
    // Restored server-side from the content store: nothing was uploaded from disk.
    expect(site.calls.filter((c) => c.command === "PutObjectCommand" && c.bucket === site.bucket)).toEqual(
      [],
    );
    const record = await loadReleaseRecord(
      s3,
      site.artifactBucket,
      site.env,
      "frontend",
      out.releaseId as string,
    );
    expect(record).toMatchObject({
      tool: "rollback",
      status: "succeeded",
      restoredFrom: `before ${firstId}`,
      after: { indexHtmlSha256: sha256(byHand.files.get("index.html") as Buffer) },
    });
  });

  it("a second rollback without `to` goes forward to the first release", async () => {
    const { result, out } = await rollback(site);
    expect(result.isError, result.text).toBe(false);
    expect(out).toMatchObject({ status: "rolled_back", to: firstId });
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(first.files.get("index.html"));
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
  });
});

describe("the first frontend release into an empty bucket", () => {
  it("has nothing before it to go back to, and says so", async () => {
    const site = await createSite(moto.current);
    writeViteDist(site.distDir, { files: 20 });
    const deployed = await deploy(site);
    expect(deployed.out.status).toBe("deployed");
    expect(deployed.out.warnings).toBeUndefined();
    const { result } = await rollback(site);
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(
      /No earlier frontend release of dev to roll back to .* no record keeps the site/,
    );
  });
});
