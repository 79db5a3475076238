import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateDistributionCommand, GetInvalidationCommand } from "@aws-sdk/client-cloudfront";
import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import type { DeployFrontendOutput } from "../../src/deploy/frontend-release.js";
import { listReleaseRecords } from "../../src/deploy/release-records.js";
import type { Runtime } from "../../src/server/context.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployFrontendTool } from "../../src/tools/deploy-frontend.js";
import { createBucket } from "../support/aws-fixtures.js";
import { type DistFixture, rebuildWithOneChunkChanged, writeViteDist } from "../support/dist-fixture.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";

const moto = useMoto();

interface Site {
  name: string;
  bucket: string;
  artifactBucket: string;
  distributionId: string;
  appRoot: string;
  distDir: string;
  runtime: Runtime;
  calls: Array<{ command: string; bucket?: string; key?: string }>;
  failWhen: (predicate: ((call: { command: string; key?: string }) => boolean) | null) => void;
}

let siteCounter = 0;

/** A dev env with its own site bucket, artifact bucket and CloudFront distribution on moto. */
async function createSite(options: { buildCommand?: string | null } = {}): Promise<Site> {
  const name = `fe${++siteCounter}`;
  const clients = moto.current.clients();
  const s3 = await clients.s3();
  const bucket = `site-${name}`;
  const artifactBucket = `artifacts-${name}`;
  await createBucket(s3, bucket);
  await createBucket(s3, artifactBucket);
  const cloudFront = await clients.cloudFront();
  const distribution = await cloudFront.send(
    new CreateDistributionCommand({
      DistributionConfig: {
        CallerReference: `dist-${name}`,
        Comment: name,
        Enabled: true,
        DefaultRootObject: "index.html",
        Origins: {
          Quantity: 1,
          Items: [
            {
              Id: "site",
              DomainName: `${bucket}.s3.amazonaws.com`,
              S3OriginConfig: { OriginAccessIdentity: "" },
            },
          ],
        },
        DefaultCacheBehavior: {
          TargetOriginId: "site",
          ViewerProtocolPolicy: "redirect-to-https",
          MinTTL: 0,
          ForwardedValues: { QueryString: false, Cookies: { Forward: "none" } },
          TrustedSigners: { Enabled: false, Quantity: 0 },
        },
      },
    }),
  );
  const appRoot = mkdtempSync(join(tmpdir(), "vyaparai-fe-"));
  const runtime = testRuntime({
    moto: moto.current,
    appRoot,
    config: {
      environments: {
        dev: {
          lambda: { functionName: `fn-${name}`, artifactBucket },
          frontend: { buckets: [bucket], distributionId: distribution.Distribution?.Id },
        },
      },
      frontend: { buildCommand: options.buildCommand ?? null },
    },
  });
  const site: Site = {
    name,
    bucket,
    artifactBucket,
    distributionId: distribution.Distribution?.Id as string,
    appRoot,
    distDir: join(appRoot, "frontend-pwa", "dist"),
    runtime,
    calls: [],
    failWhen: () => {},
  };
  // Every S3 call the tool makes, and a way to make one fail (a fault moto cannot produce).
  let fail: ((call: { command: string; key?: string }) => boolean) | null = null;
  site.failWhen = (predicate) => {
    fail = predicate;
  };
  const toolS3 = await runtime.clientsFor("dev").s3();
  toolS3.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Bucket?: string; Key?: string };
      const call = { command: context.commandName as string, bucket: input.Bucket, key: input.Key };
      if (fail?.(call))
        throw Object.assign(new Error("injected: connection reset"), { name: "InternalError" });
      site.calls.push(call);
      return next(args);
    },
    { step: "initialize", name: "recordCalls" },
  );
  return site;
}

async function deploy(site: Site, args: Record<string, unknown> = {}) {
  site.calls.length = 0;
  const result = await invokeTool(deployFrontendTool, { env: "dev", skipBuild: true, ...args }, site.runtime);
  return { result, out: result.structured as unknown as DeployFrontendOutput };
}

function writes(site: Site, bucket = site.bucket): string[] {
  return site.calls
    .filter(
      (c) => (c.command === "PutObjectCommand" || c.command === "CopyObjectCommand") && c.bucket === bucket,
    )
    .map((c) => c.key as string)
    .sort();
}

async function s3(): Promise<S3Client> {
  return moto.current.clients().s3();
}

async function getBytes(bucket: string, key: string): Promise<Buffer> {
  const out = await (await s3()).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function exists(bucket: string, key: string): Promise<boolean> {
  try {
    await (await s3()).send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

/** Every src/href asset the live index.html references is in the bucket. */
async function liveIndexIsWhole(bucket: string): Promise<{ html: string; missing: string[] }> {
  const html = (await getBytes(bucket, "index.html")).toString("utf8");
  const refs = [...html.matchAll(/(?:src|href)="\/([^"]+)"/g)].map((m) => m[1] as string);
  const missing: string[] = [];
  for (const ref of refs) if (!(await exists(bucket, ref))) missing.push(ref);
  expect(refs.length).toBeGreaterThan(5);
  return { html, missing };
}

async function invalidationPaths(site: Site, id: string): Promise<string[]> {
  const cloudFront = await moto.current.clients().cloudFront();
  const out = await cloudFront.send(
    new GetInvalidationCommand({ DistributionId: site.distributionId, Id: id }),
  );
  return [...(out.Invalidation?.InvalidationBatch?.Paths?.Items ?? [])].sort();
}

function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

describe("deploy_frontend against moto", () => {
  let site: Site;
  let first: DistFixture;

  beforeAll(async () => {
    site = await createSite();
    first = writeViteDist(join(site.appRoot, "frontend-pwa", "dist"), { files: 300 });
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

    const client = await s3();
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
    expect((await liveIndexIsWhole(site.bucket)).missing).toEqual([]);
  });

  it("a rebuild with identical content (fresh mtimes) uploads nothing and reads only the non-immutable files", async () => {
    const before = await (await s3()).send(new HeadObjectCommand({ Bucket: site.bucket, Key: "index.html" }));
    first = writeViteDist(site.distDir, { files: 300 });
    const { result, out } = await deploy(site);
    expect(result.isError, result.text).toBe(false);
    expect(out.status).toBe("unchanged");
    expect(out.plan).toMatchObject({ upload: 0, unchanged: 300, delete: 0 });
    expect(writes(site)).toEqual([]);
    const heads = site.calls.filter((c) => c.command === "HeadObjectCommand" && c.bucket === site.bucket);
    expect(heads.map((c) => c.key).sort()).toEqual(
      [...first.files.keys()].filter((key) => !key.startsWith("assets/")).sort(),
    );
    const after = await (await s3()).send(new HeadObjectCommand({ Bucket: site.bucket, Key: "index.html" }));
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
    expect(await exists(site.bucket, newChunk)).toBe(false);
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
    expect(await exists(site.bucket, oldChunk)).toBe(true);
    expect(await getBytes(site.bucket, "index.html")).toEqual(fixture.files.get("index.html"));
    expect((await liveIndexIsWhole(site.bucket)).missing).toEqual([]);
    const oldChunkBytes = first.files.get(oldChunk) as Buffer;
    first = fixture;

    const { out: pruned } = await deploy(site, { prune: true });
    expect(pruned.status).toBe("deployed");
    expect(pruned.plan).toMatchObject({ upload: 0, delete: 1, deleteFiles: [oldChunk] });
    expect(await exists(site.bucket, oldChunk)).toBe(false);
    // Its bytes were kept first, so a rollback can bring it back.
    expect(await getBytes(site.artifactBucket, `frontend-objects/${sha256(oldChunkBytes)}`)).toEqual(
      oldChunkBytes,
    );
  });

  it("re-uploads a file whose Cache-Control no longer matches the rule, by a server-side copy", async () => {
    const client = await s3();
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
    expect(await getBytes(site.bucket, "robots.txt")).toEqual(first.files.get("robots.txt"));
  });
});
