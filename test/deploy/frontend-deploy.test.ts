import { CopyObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { listReleaseRecords } from "../../src/release/records.js";
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

describe("deploy_frontend against moto", () => {
  let site: Site;
  let first: DistFixture;

  beforeAll(async () => {
    site = await createSite(moto.current);
    first = writeViteDist(site.distDir, { files: 300 });
  });

  it("a first deploy puts every file with its Content-Type, Cache-Control and sha256 metadata", async () => {
    const { result, out } = await deploy(site, { wait: true });
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("deployed");
    expect(out.plan).toMatchObject({ upload: 300, unchanged: 0, delete: 0, files: 300 });
    expect(writes(site)).toHaveLength(300);
    // index.html goes last.
    const puts = site.calls.filter((c) => c.command === "PutObjectCommand" && c.bucket === site.bucket);
    expect(puts.at(-1)?.key).toBe("index.html");

    const client = await moto.current.clients().s3();
    const expected: Record<string, [string, string]> = {
      "index.html": ["text/html; charset=utf-8", "no-cache"],
      "sw.js": ["text/javascript; charset=utf-8", "no-cache"],
      "registerSW.js": ["text/javascript; charset=utf-8", "no-cache"],
      "manifest.webmanifest": ["application/manifest+json", "no-cache"],
      "pwa-192x192.png": ["image/png", "public, max-age=300"],
      "robots.txt": ["text/plain; charset=utf-8", "public, max-age=300"],
    };
    for (const [key, content] of first.files) {
      const head = await client.send(new HeadObjectCommand({ Bucket: site.bucket, Key: key }));
      expect(head.Metadata?.sha256, key).toBe(sha256(content));
      expect(head.ContentLength, key).toBe(content.length);
      if (key.startsWith("assets/")) {
        expect(head.CacheControl, key).toBe("public, max-age=31536000, immutable");
        const type = key.endsWith(".js")
          ? "text/javascript; charset=utf-8"
          : key.endsWith(".css")
            ? "text/css; charset=utf-8"
            : key.endsWith(".svg")
              ? "image/svg+xml"
              : "font/woff2";
        expect(head.ContentType, key).toBe(type);
      } else if (expected[key]) {
        expect([head.ContentType, head.CacheControl], key).toEqual(expected[key]);
      }
    }
    // Only the non-immutable files are invalidated, and `/` with index.html.
    expect(out.invalidation!.status.toLowerCase()).toBe("completed");
    expect(await invalidationPaths(site, out.invalidation!.id)).toEqual(
      [
        "/",
        "/favicon.ico",
        "/index.html",
        "/manifest.webmanifest",
        "/pwa-192x192.png",
        "/pwa-512x512.png",
        "/registerSW.js",
        "/robots.txt",
        "/sw.js",
      ].sort(),
    );
    const records = await listReleaseRecords(client, site.artifactBucket, "dev", "frontend");
    expect(records[0]).toMatchObject({
      releaseId: out.releaseId,
      status: "succeeded",
      after: { indexHtmlSha256: sha256(first.files.get("index.html") as Buffer) },
    });
    expect(Object.keys(records[0]?.manifest ?? {})).toHaveLength(300);
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
  });

  it("a rebuild with identical content (fresh mtimes) uploads nothing and reads no immutable asset", async () => {
    const before = await (await moto.current.clients().s3()).send(
      new HeadObjectCommand({ Bucket: site.bucket, Key: "index.html" }),
    );
    first = writeViteDist(site.distDir, { files: 300 });
    const { result, out } = await deploy(site);
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("unchanged");
    expect(out.plan).toMatchObject({ upload: 0, unchanged: 300, delete: 0 });
    expect(writes(site)).toEqual([]);
    // Immutable assets are answered by the live manifest; so is any other file the release did
    // not write in its last second (frontend-requests.test.ts pins that edge down).
    const heads = site.calls.filter((c) => c.command === "HeadObjectCommand" && c.bucket === site.bucket);
    const notImmutable = [...first.files.keys()].filter((key) => !key.startsWith("assets/"));
    expect(heads.map((c) => c.key).filter((key) => !notImmutable.includes(key as string))).toEqual([]);
    const after = await (await moto.current.clients().s3()).send(
      new HeadObjectCommand({ Bucket: site.bucket, Key: "index.html" }),
    );
    expect(after.LastModified).toEqual(before.LastModified);
    expect(after.ETag).toBe(before.ETag);
  });

  it("a dry run plans the one-chunk change and writes nothing", async () => {
    const { fixture, newChunk } = rebuildWithOneChunkChanged(first);
    const { out } = await deploy(site, { dryRun: true });
    expect(out.status).toBe("planned");
    expect(out.plan).toMatchObject({ upload: 3, unchanged: 297, delete: 0, keptStale: 1 });
    expect(out.plan.uploadFiles).toEqual([newChunk, "index.html", "sw.js"].sort());
    expect(writes(site)).toEqual([]);
    expect(await exists(site, site.bucket, newChunk)).toBe(false);
    first = writeViteDist(site.distDir, { files: 300 });
    expect(fixture.files.size).toBe(300);
  });

  it("a rebuild with one changed chunk uploads that chunk and the entry points, and invalidates only those", async () => {
    const { fixture, oldChunk, newChunk } = rebuildWithOneChunkChanged(first);
    const { result, out } = await deploy(site);
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("deployed");
    expect(writes(site)).toEqual([newChunk, "index.html", "sw.js"].sort());
    expect(out.plan).toMatchObject({ upload: 3, unchanged: 297, delete: 0, keptStale: 1 });
    expect(await invalidationPaths(site, out.invalidation!.id)).toEqual(["/", "/index.html", "/sw.js"]);
    // The previous release's chunk stays for open tabs until the grace period ends or a prune.
    expect(await exists(site, site.bucket, oldChunk)).toBe(true);
    expect(await getBytes(site, site.bucket, "index.html")).toEqual(fixture.files.get("index.html"));
    expect((await liveIndexIsWhole(site)).missing).toEqual([]);
    const oldChunkBytes = first.files.get(oldChunk) as Buffer;
    first = fixture;

    const { out: pruned } = await deploy(site, { prune: true });
    expect(pruned.status).toBe("deployed");
    expect(pruned.plan).toMatchObject({ upload: 0, delete: 1, deleteFiles: [oldChunk] });
    expect(await exists(site, site.bucket, oldChunk)).toBe(false);
    // Its bytes were kept first, so a rollback can bring it back.
    expect(await getBytes(site, site.artifactBucket, `frontend-objects/${sha256(oldChunkBytes)}`)).toEqual(
      oldChunkBytes,
    );
  });

  it("re-uploads a file whose Cache-Control no longer matches the rule, by a server-side copy", async () => {
    const client = await moto.current.clients().s3();
    await client.send(
      new CopyObjectCommand({
        Bucket: site.bucket,
        Key: "robots.txt",
        CopySource: `${site.bucket}/robots.txt`,
        MetadataDirective: "REPLACE",
        ContentType: "text/plain",
        CacheControl: "max-age=86400",
        Metadata: { sha256: sha256(first.files.get("robots.txt") as Buffer) },
      }),
    );
    const { out } = await deploy(site);
    expect(out.status).toBe("deployed");
    expect(out.plan).toMatchObject({ upload: 1, uploadFiles: ["robots.txt"], bytes: 0 });
    const head = await client.send(new HeadObjectCommand({ Bucket: site.bucket, Key: "robots.txt" }));
    expect([head.ContentType, head.CacheControl]).toEqual([
      "text/plain; charset=utf-8",
      "public, max-age=300",
    ]);
    expect(await getBytes(site, site.bucket, "robots.txt")).toEqual(first.files.get("robots.txt"));
  });
});
