import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frontendSchema } from "../../src/config/schema.js";
import { DeployError } from "../../src/core/errors.js";
import { BUFFERED_BODY_BYTES, FRONTEND_UPLOAD_CONCURRENCY } from "../../src/deploy/frontend/concurrency.js";
import { manifestOf } from "../../src/deploy/frontend/deploy.js";
import {
  type BucketDiff,
  diffBucket,
  type FrontendManifest,
  listBucket,
} from "../../src/deploy/frontend/diff.js";
import { walkDist } from "../../src/deploy/frontend/files.js";
import { isImmutable } from "../../src/deploy/frontend/headers.js";
import { loadLiveHistory } from "../../src/deploy/frontend/history.js";
import { type SyncContext, uploadAssets } from "../../src/deploy/frontend/sync.js";
import { invokeTool } from "../../src/server/invoke.js";
import type { Runtime } from "../../src/server/runtime.js";
import { deployFrontendTool } from "../../src/tools/deploy-frontend.js";
import type { DeployFrontendOutput } from "../../src/tools/flows/deploy-frontend.js";
import { createBucket, createSiteDistribution } from "../support/aws-fixtures.js";
import { type DistFixture, writeViteDist } from "../support/dist-fixture.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";

/**
 * What a frontend deploy asks S3, counted at a proxy in front of moto: one listing per bucket
 * (split into segments listed at once), every changed file put exactly once and nothing else (by content
 * hash, whatever the mtimes), no HeadObject where the live release's manifest answers, and
 * uploads many at once with bounded, streamed bodies for larger files.
 */
const moto = useMoto();
let proxy: FaultProxy;

beforeAll(async () => {
  proxy = await startFaultProxy(moto.current.endpoint);
});
afterAll(async () => {
  await proxy?.stop();
});

/** Over 1,000 files, so the listing takes two pages. */
const FILES = 1_100;
/** Files above BUFFERED_BODY_BYTES: streamed from disk, not read whole. */
const LARGE = {
  "assets/vendor-big.js": Buffer.from(`export const big = "${"v".repeat(700 * 1024)}";\n`),
  "assets/hero.png": randomBytes(1_200 * 1024),
};

function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

interface CountedSite {
  name: string;
  bucket: string;
  artifactBucket: string;
  distDir: string;
  runtime: Runtime;
}

let siteCounter = 0;

async function createCountedSite(): Promise<CountedSite> {
  const name = `req${++siteCounter}`;
  const clients = moto.current.clients();
  const s3 = await clients.s3();
  const bucket = `site-${name}`;
  const artifactBucket = `artifacts-${name}`;
  await createBucket(s3, bucket);
  await createBucket(s3, artifactBucket);
  const distributionId = await createSiteDistribution(await clients.cloudFront(), {
    callerReference: `dist-${name}`,
    comment: name,
    siteBucket: bucket,
    defaultRootObject: "index.html",
  });
  const appRoot = mkdtempSync(join(tmpdir(), "vyaparai-fe-req-"));
  const runtime = testRuntime({
    moto: moto.current,
    appRoot,
    // The tool's clients go through the proxy, which counts every request.
    endpoint: proxy.endpoint,
    config: {
      environments: {
        dev: {
          lambda: { functionName: `fn-${name}`, artifactBucket },
          frontend: { buckets: [bucket], distributionId, url: null },
        },
      },
      frontend: { buildCommand: null },
    },
  });
  return { name, bucket, artifactBucket, distDir: join(appRoot, "frontend-pwa", "dist"), runtime };
}

/** A fresh build in dist/ (every mtime new), with the large files. */
function build(site: CountedSite, revisions: Record<number, number> = {}): DistFixture {
  const fixture = writeViteDist(site.distDir, { files: FILES, revisions });
  for (const [key, bytes] of Object.entries(LARGE)) {
    writeFileSync(join(site.distDir, key), bytes);
    fixture.files.set(key, bytes);
  }
  return fixture;
}

async function deploy(site: CountedSite) {
  const mark = proxy.log.length;
  const result = await invokeTool(deployFrontendTool, { env: "dev", skipBuild: true }, site.runtime);
  expect(result.isError, result.text).toBe(false);
  const inSite = proxy.log.slice(mark).filter((r) => r.bucket === site.bucket);
  const keysOf = (operation: string) =>
    inSite
      .filter((r) => r.operation === operation)
      .map((r) => r.key as string)
      .sort();
  return {
    out: result.structured as unknown as DeployFrontendOutput,
    lists: inSite.filter((r) => r.operation === "ListObjectsV2").length,
    puts: keysOf("PutObject"),
    copies: keysOf("CopyObject"),
    heads: keysOf("HeadObject"),
    multipart: inSite.filter((r) => /Multipart|UploadPart/.test(r.operation)).length,
  };
}

async function bytesOf(bucket: string, key: string): Promise<Buffer> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(
    await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

/** Keys whose HeadObject is the integrity check's (index.html's references), not the diff's. */
function referencesOf(fixture: DistFixture): Set<string> {
  return new Set([...fixture.indexReferences, "index.html", "sw.js"]);
}

describe("deploy_frontend requests, counted at a proxy", () => {
  let site: CountedSite;
  let current: DistFixture;

  beforeAll(async () => {
    site = await createCountedSite();
  });

  it("a first deploy puts every file exactly once after one listing, large files streamed with their checksum", async () => {
    current = build(site);
    const first = await deploy(site);
    expect(first.out.status).toBe("deployed");
    expect(first.out.plan).toMatchObject({ upload: FILES + 2, unchanged: 0 });
    expect(first.puts).toEqual([...current.files.keys()].sort());
    expect(first.copies).toEqual([]);
    expect(first.multipart).toBe(0);
    // 1,102 keys to publish: the (empty) bucket is listed in two segments at once, one page each.
    expect(first.lists).toBe(2);
    // Nothing was there to ask about: only the integrity checks read back what index.html references.
    const references = referencesOf(current);
    expect(first.heads.filter((key) => !references.has(key))).toEqual([]);
    for (const [key, bytes] of Object.entries(LARGE)) {
      expect(bytes.length).toBeGreaterThan(BUFFERED_BODY_BYTES);
      expect((await bytesOf(site.bucket, key)).equals(bytes), key).toBe(true);
      expect(
        proxy.count({
          bucket: site.bucket,
          key,
          operation: "PutObject",
          header: { "x-amz-checksum-sha256": Buffer.from(sha256(bytes), "hex").toString("base64") },
        }),
        key,
      ).toBe(1);
    }
  }, 120_000);

  it("a redeploy of the same build puts nothing, after one listing", async () => {
    const again = await deploy(site);
    expect(again.out.status).toBe("unchanged");
    expect(again.puts).toEqual([]);
    expect(again.copies).toEqual([]);
    // 1,102 objects: two segments listed at once, each one page.
    expect(again.lists).toBe(2);
    // No immutable asset is asked about: the live release's manifest answers for them.
    expect(again.heads.filter((key) => isImmutable(immutableRule(key)))).toEqual([]);
  }, 60_000);

  it("an identical rebuild (same bytes, every mtime new) puts nothing: the diff is by content hash", async () => {
    current = build(site);
    const same = await deploy(site);
    expect(same.out.status).toBe("unchanged");
    expect(same.out.plan).toMatchObject({ upload: 0, unchanged: FILES + 2 });
    expect(same.puts).toEqual([]);
    expect(same.copies).toEqual([]);
    expect(same.lists).toBe(2);
  }, 60_000);

  it("a rebuild with 3 chunks changed puts exactly those 3 and the entry points that changed", async () => {
    const previous = current;
    current = build(site, { 11: 1, 12: 1, 13: 1 });
    const changed = [...current.files.keys()].filter(
      (key) => !previous.files.get(key)?.equals(current.files.get(key) as Buffer),
    );
    const newChunks = changed.filter((key) => key.startsWith("assets/"));
    expect(newChunks).toHaveLength(3);
    const three = await deploy(site);
    expect(three.out.status).toBe("deployed");
    // The chunk names are in index.html's route map and sw.js's precache list: both change too.
    expect(three.puts).toEqual([...newChunks, "index.html", "sw.js"].sort());
    expect(changed.sort()).toEqual(three.puts);
    expect(three.copies).toEqual([]);
    expect(three.multipart).toBe(0);
    expect(three.lists).toBe(2);
    for (const key of three.puts)
      expect((await bytesOf(site.bucket, key)).equals(current.files.get(key) as Buffer)).toBe(true);
  }, 60_000);
});

/** The cache rule the default config gives a key (assets/ are immutable). */
function immutableRule(key: string): string {
  return manifestOf([{ key, path: "", size: 0, md5: "", sha256: "" }], frontendSchema.parse({}))[key]
    ?.cacheControl as string;
}

describe("diffBucket with the live release's manifest and when it finished", () => {
  let site: CountedSite;
  let fixture: DistFixture;
  let desired: FrontendManifest;

  beforeAll(async () => {
    site = await createCountedSite();
    fixture = writeViteDist(site.distDir, { files: 200 });
    const first = await deploy(site);
    expect(first.out.status).toBe("deployed");
    const { files } = await walkDist(site.distDir, { uploadDotfiles: [] });
    desired = manifestOf(files, frontendSchema.parse({}));
  }, 60_000);

  async function liveRelease() {
    const [live] = (await loadLiveHistory(await proxy.clients().s3(), site.artifactBucket, "dev")).live;
    expect(live?.finishedAt).toBeTruthy();
    return live as NonNullable<typeof live>;
  }

  /** The diff through the proxy, and the HeadObject calls it made. */
  async function diff(liveFinishedAt?: string): Promise<{ diff: BucketDiff; heads: string[] }> {
    const s3: S3Client = await proxy.clients().s3();
    const live = await liveRelease();
    const mark = proxy.log.length;
    const result = await diffBucket(s3, site.bucket, desired, {
      liveManifest: live.manifest,
      ...(liveFinishedAt === undefined ? {} : { liveFinishedAt }),
    });
    const requests = proxy.log.slice(mark);
    expect(requests.filter((r) => r.operation === "ListObjectsV2")).toHaveLength(1);
    const heads = requests.filter((r) => r.operation === "HeadObject").map((r) => r.key as string);
    expect(result.headRequests).toBe(heads.length);
    return { diff: result, heads: heads.sort() };
  }

  const notImmutable = () => [...fixture.files.keys()].filter((key) => !key.startsWith("assets/")).sort();

  it("without the finish time asks only about the files that are not immutable", async () => {
    const { diff: answer, heads } = await diff();
    expect(heads).toEqual(notImmutable());
    expect(answer.upload).toEqual([]);
  });

  it("with it asks only about what the release wrote in its last second (LastModified has whole seconds)", async () => {
    const live = await liveRelease();
    const finished = Date.parse(live.finishedAt as string);
    const lastSecond = (await listBucket(await moto.current.clients().s3(), site.bucket))
      .filter((o) => !o.key.startsWith("assets/") && o.lastModified.getTime() + 1_000 > finished)
      .map((o) => o.key)
      .sort();
    const { diff: answer, heads } = await diff(live.finishedAt as string);
    expect(heads).toEqual(lastSecond);
    expect(answer.upload).toEqual([]);
  });

  it("asks about no object at all when the release finished a second or more after its last write", async () => {
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const { diff: answer, heads } = await diff(new Date().toISOString());
    expect(heads).toEqual([]);
    expect(answer.upload).toEqual([]);
    expect(answer.unchanged).toHaveLength(fixture.files.size);
  });

  it("reads an object written after the finish, or in its last second, and puts its headers right", async () => {
    const s3 = await moto.current.clients().s3();
    const finishedBefore = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    // A header changed by hand: the same bytes (the ETag stays), another Cache-Control.
    await s3.send(
      new CopyObjectCommand({
        Bucket: site.bucket,
        Key: "robots.txt",
        CopySource: `${site.bucket}/robots.txt`,
        MetadataDirective: "REPLACE",
        ContentType: "text/plain",
        CacheControl: "max-age=86400",
        Metadata: { sha256: sha256(fixture.files.get("robots.txt") as Buffer) },
      }),
    );
    const fix = [{ key: "robots.txt", reason: "headers", replacedSha256: null }];
    const after = await diff(finishedBefore);
    expect(after.heads).toEqual(["robots.txt"]);
    expect(after.diff.upload).toEqual(fix);
    // A release whose finish fell in the same second as the change: still read.
    const head = await s3.send(new HeadObjectCommand({ Bucket: site.bucket, Key: "robots.txt" }));
    expect(head.CacheControl).toBe("max-age=86400");
    const sameSecond = new Date((head.LastModified as Date).getTime() + 999).toISOString();
    const within = await diff(sameSecond);
    expect(within.heads).toEqual(["robots.txt"]);
    expect(within.diff.upload).toEqual(fix);
  });
});

describe("uploadAssets", () => {
  let bucket: string;
  let distDir: string;
  let desired: FrontendManifest;
  let pathOf: Map<string, string>;

  beforeAll(async () => {
    bucket = `assets-${process.pid}`;
    await createBucket(await moto.current.clients().s3(), bucket);
    distDir = join(mkdtempSync(join(tmpdir(), "vyaparai-fe-up-")), "dist");
    writeViteDist(distDir, { files: 120 });
    writeFileSync(join(distDir, "assets", "vendor-big.js"), LARGE["assets/vendor-big.js"]);
    const { files } = await walkDist(distDir, { uploadDotfiles: [] });
    desired = manifestOf(files, frontendSchema.parse({}));
    pathOf = new Map(files.map((file) => [file.key, file.path]));
  });

  async function syncTo(over: Partial<SyncContext> = {}): Promise<SyncContext> {
    return {
      s3: await proxy.clients().s3(),
      artifactBucket: bucket,
      isEntryPoint: () => false,
      namedInConfig: () => false,
      sourceOf: (key) => ({ kind: "file", path: pathOf.get(key) as string }),
      desired,
      signal: new AbortController().signal,
      progress: () => {},
      kept: new Set(),
      verified: new Map(),
      ...over,
    };
  }

  function plan(keys: string[]): BucketDiff[] {
    const upload = keys.map((key) => ({ key, reason: "new" as const, replacedSha256: null }));
    return [{ bucket, upload, unchanged: [], stale: [], headRequests: 0 }];
  }

  it(`keeps ${FRONTEND_UPLOAD_CONCURRENCY} uploads in flight, not 8`, async () => {
    const keys = [...pathOf.keys()]
      .filter((key) => key.startsWith("assets/") && (desired[key]?.size ?? 0) <= BUFFERED_BODY_BYTES)
      .slice(0, 96);
    expect(keys).toHaveLength(96);
    // Every PutObject waits 1 s at the proxy: those that arrive before the first answer
    // were all in flight at once.
    const slow = proxy.add({
      match: { bucket, operation: "PutObject" },
      action: { kind: "delay", ms: 1_000 },
    });
    const mark = proxy.log.length;
    await uploadAssets(await syncTo(), plan(keys));
    slow.remove();
    const arrivals = proxy.log
      .slice(mark)
      .filter((r) => r.operation === "PutObject")
      .map((r) => r.at);
    expect(arrivals).toHaveLength(96);
    const start = Math.min(...arrivals);
    const together = arrivals.filter((at) => at - start < 900).length;
    expect(together).toBe(FRONTEND_UPLOAD_CONCURRENCY);
  }, 60_000);

  it("sends a streamed upload again after a failure a retry can fix, from a fresh read", async () => {
    const key = "assets/vendor-big.js";
    const fail = proxy.add({
      match: { bucket, key, operation: "PutObject" },
      action: { kind: "fail", status: 500, code: "InternalError" },
      times: 1,
    });
    const mark = proxy.log.length;
    await uploadAssets(await syncTo(), plan([key]));
    expect(fail.hits).toBe(1);
    expect(proxy.log.slice(mark).filter((r) => r.key === key && r.operation === "PutObject")).toHaveLength(2);
    expect((await bytesOf(bucket, key)).equals(LARGE["assets/vendor-big.js"])).toBe(true);
  }, 60_000);

  it("stops a streamed upload whose file is not the approved content, and no object is written", async () => {
    const key = "assets/vendor-big.js";
    const approved = desired[key] as FrontendManifest[string];
    for (const [name, content] of [
      ["same size, other bytes", Buffer.alloc(approved.size, 0x61)],
      ["longer", Buffer.alloc(approved.size + 4096, 0x61)],
      ["shorter", Buffer.alloc(approved.size - 4096, 0x61)],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), "vyaparai-fe-swap-"));
      const path = join(dir, "swapped.js");
      writeFileSync(path, content);
      const swappedKey = `swapped/${name.replace(/\W+/g, "-")}.js`;
      const sync = await syncTo({
        desired: { ...desired, [swappedKey]: approved },
        sourceOf: () => ({ kind: "file", path }),
      });
      const error = await uploadAssets(sync, plan([swappedKey])).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(DeployError);
      expect((error as DeployError).message, name).toMatch(/changed after the plan was made/);
      const stored = await bytesOf(bucket, swappedKey).catch(() => null);
      expect(stored, name).toBeNull();
    }
  }, 60_000);
});

describe("listBucket split at the keys about to be published", () => {
  /** Keys whose UTF-16 order differs from S3's (UTF-8 bytes): a bound between them must hold. */
  const mixed = (i: number) => [
    `k/${String(i).padStart(4, "0")}\uFF5E.js`,
    `k/${String(i).padStart(4, "0")}\u{1F600}.js`,
  ];

  it("lists every object exactly once, in S3's order, however the bucket differs from the keys expected", async () => {
    const s3 = await moto.current.clients().s3();
    const bucket = "site-segments";
    await createBucket(s3, bucket);
    // 1,500 objects: 1,200 with keys that sort differently in UTF-16, and 300 stale ones the
    // expectation does not name; the expectation also names 400 keys the bucket lacks.
    const stored = [
      ...Array.from({ length: 600 }, (_, i) => mixed(i)).flat(),
      ...Array.from({ length: 300 }, (_, i) => `stale/${i}.js`),
    ];
    const queue = [...stored];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let key = queue.pop(); key !== undefined; key = queue.pop())
          await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
      }),
    );
    const expected = [
      ...Array.from({ length: 600 }, (_, i) => mixed(i)).flat(),
      ...Array.from({ length: 400 }, (_, i) => `new/${i}.js`),
    ];
    const whole = (await listBucket(s3, bucket)).map((o) => o.key);
    expect(whole).toHaveLength(stored.length);

    const mark = proxy.log.length;
    const split = (await listBucket(await proxy.clients().s3(), bucket, undefined, expected)).map(
      (o) => o.key,
    );
    const lists = proxy.log.slice(mark).filter((r) => r.operation === "ListObjectsV2");
    expect(split).toEqual(whole);
    // 1,600 keys expected: three segments listed at once; the 300 unexpected keys page on.
    expect(lists.length).toBeGreaterThanOrEqual(3);

    // Nothing expected at all (an empty build): one plain listing, paged.
    const plain = (await listBucket(await proxy.clients().s3(), bucket, undefined, [])).map((o) => o.key);
    expect(plain).toEqual(whole);
  }, 120_000);
});

describe("deploy_frontend without a build reads S3 while protection is read", () => {
  it("lists the bucket before the protection tags answer, and deploys what the walk hashed", async () => {
    const site = await createCountedSite();
    const fixture = writeViteDist(site.distDir, { files: 120, seed: "prefetch" });
    // The site bucket's tags (one of the protection reads) are held until the listing came.
    const tags = proxy.add({
      match: { service: "s3", operation: "GetBucketTagging", bucket: site.bucket },
      action: { kind: "hang" },
    });
    const listed = proxy.add({
      match: { service: "s3", operation: "ListObjectsV2", bucket: site.bucket },
      action: { kind: "delay", ms: 0 },
    });
    try {
      const call = invokeTool(deployFrontendTool, { env: "dev", skipBuild: true }, site.runtime);
      await tags.waitForHit();
      const listing = await listed.waitForHit();
      expect(tags.hits).toBe(1);
      // Still held: nothing of the release can have started.
      expect(proxy.log.filter((r) => r.bucket === site.bucket && r.operation === "PutObject")).toEqual([]);
      tags.release();
      const result = await call;
      expect(result.isError, result.text).toBe(false);
      expect((result.structured as unknown as DeployFrontendOutput).status).toBe("deployed");
      expect(listing.at).toBeGreaterThan(0);
      // Read back: every file of the build is live with its bytes.
      for (const [key, bytes] of fixture.files)
        expect((await bytesOf(site.bucket, key)).equals(bytes), key).toBe(true);
    } finally {
      tags.remove();
      listed.remove();
    }
  }, 60_000);
});

describe("the content store holds each content under its own hash", () => {
  it("an entry point changed by hand between the plan and the lock is kept as what it is", async () => {
    const site = await createCountedSite();
    writeViteDist(site.distDir, { files: 60, seed: "store" });
    expect((await deploy(site)).out.status).toBe("deployed");
    writeViteDist(site.distDir, { files: 60, seed: "store", revisions: { 1: 1 } });
    const s3 = await moto.current.clients().s3();
    // The plan is made; the lock's create is held while sw.js is changed by hand.
    const lock = proxy.add({
      match: { service: "s3", operation: "PutObject", bucket: site.artifactBucket, key: "locks/dev.json" },
      action: { kind: "hang" },
    });
    const byHand = Buffer.from("self.addEventListener('fetch', () => {}); // changed by hand\n");
    try {
      const call = invokeTool(deployFrontendTool, { env: "dev", skipBuild: true }, site.runtime);
      await lock.waitForHit();
      await s3.send(new PutObjectCommand({ Bucket: site.bucket, Key: "sw.js", Body: byHand }));
      lock.release();
      const result = await call;
      expect(result.isError, result.text).toBe(false);
    } finally {
      lock.remove();
    }
    // Read back: every stored object's bytes hash to its key, and the hand-made sw.js is kept.
    const stored = await listBucket(s3, site.artifactBucket);
    const contents = stored.filter((o) => o.key.startsWith("frontend-objects/"));
    expect(contents.length).toBeGreaterThan(0);
    for (const object of contents)
      expect(sha256(await bytesOf(site.artifactBucket, object.key)), object.key).toBe(
        object.key.slice("frontend-objects/".length),
      );
    expect(contents.map((o) => o.key)).toContain(`frontend-objects/${sha256(byHand)}`);
  }, 60_000);
});
