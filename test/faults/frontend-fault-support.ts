import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CloudFrontClient,
  GetInvalidationCommand,
  ListInvalidationsCommand,
} from "@aws-sdk/client-cloudfront";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { CONFIG_FILE_NAME, loadConfig } from "../../src/config/load.js";
import { loadReleaseRecord } from "../../src/release/records.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { invokeTool, type ToolCallResult } from "../../src/server/invoke.js";
import { createRuntime, type Runtime } from "../../src/server/runtime.js";
import { deployFrontendTool } from "../../src/tools/deploy-frontend.js";
import type { DeployFrontendOutput } from "../../src/tools/flows/deploy-frontend.js";
import { createBucket, createSiteDistribution } from "../support/aws-fixtures.js";
import { type DistFixture, writeViteDist } from "../support/dist-fixture.js";
import type { Moto } from "../support/moto.js";

/**
 * Set-up and read-back for the frontend fault tests: a site whose tool clients go through the
 * fault proxy (AWS_ENDPOINT_URL, set by the test file), and helpers that read what moto was
 * left with through clients pointed straight at moto.
 */

/** The entry points of the Vite/PWA fixture (the config's default list). */
export const ENTRY_POINTS = ["index.html", "manifest.webmanifest", "registerSW.js", "sw.js"] as const;
export const ENV = "dev";

export function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export interface Build {
  name: "A" | "B";
  fixture: DistFixture;
  /** sha256 of every entry point's bytes as written to dist/ on disk. */
  entrySha256: Map<string, string>;
}

/**
 * A fresh build in dist/. The fixture writes the same manifest.webmanifest and registerSW.js
 * for every seed; here each build gets its own (as a renamed app or a changed PWA plugin
 * option would), so every entry point tells release A from release B.
 */
export function writeBuild(distDir: string, name: "A" | "B", seed: string, files = 200): Build {
  const fixture = writeViteDist(distDir, { files, seed });
  const patched: Record<string, string> = {
    "manifest.webmanifest": JSON.stringify({
      name: `VyapaarAI ${seed}`,
      short_name: "VyapaarAI",
      start_url: "/",
      display: "standalone",
    }),
    "registerSW.js": `/* build ${seed} */\n${(fixture.files.get("registerSW.js") as Buffer).toString("utf8")}`,
  };
  for (const [key, content] of Object.entries(patched)) {
    writeFileSync(join(distDir, key), content);
    fixture.files.set(key, Buffer.from(content));
  }
  const entrySha256 = new Map(ENTRY_POINTS.map((key) => [key, sha256(readFileSync(join(distDir, key)))]));
  return { name, fixture, entrySha256 };
}

export interface FaultSite {
  name: string;
  buckets: string[];
  artifactBucket: string;
  distributionId: string;
  appRoot: string;
  distDir: string;
  runtime: Runtime;
  moto: Moto;
  /** Straight to moto: the read-back. */
  s3: S3Client;
  cloudFront: CloudFrontClient;
}

let siteCounter = 0;

/**
 * A dev env with `buckets` site buckets, an artifact bucket and a CloudFront distribution on
 * moto. The runtime is the product's own (createRuntime without a makeClients hook), so its
 * clients take release.requestTimeoutSeconds from the config and their endpoint from
 * AWS_ENDPOINT_URL — the fault proxy.
 */
export async function createFaultSite(
  moto: Moto,
  options: { buckets?: number; release?: Record<string, number> } = {},
): Promise<FaultSite> {
  const name = `ff${process.pid % 1000}x${++siteCounter}`;
  const direct = moto.clients();
  const s3 = await direct.s3();
  const cloudFront = await direct.cloudFront();
  const buckets = Array.from({ length: options.buckets ?? 2 }, (_, i) => `site-${name}-${i}`);
  const artifactBucket = `artifacts-${name}`;
  for (const bucket of [...buckets, artifactBucket]) await createBucket(s3, bucket);
  const distributionId = await createSiteDistribution(cloudFront, {
    callerReference: `dist-${name}`,
    comment: name,
    siteBucket: buckets[0] as string,
    defaultRootObject: "index.html",
  });
  const appRoot = mkdtempSync(join(tmpdir(), "vyaparai-ff-"));
  const config = {
    environments: {
      [ENV]: {
        lambda: { functionName: `fn-${name}`, artifactBucket },
        frontend: { buckets, distributionId, url: null },
      },
    },
    frontend: { buildCommand: null },
    ...(options.release ? { release: options.release } : {}),
  };
  writeFileSync(join(appRoot, CONFIG_FILE_NAME), JSON.stringify(config, null, 2));
  const runtime = createRuntime({ loaded: loadConfig({ cwd: appRoot, env: {} }), env: {} });
  return {
    name,
    buckets,
    artifactBucket,
    distributionId,
    appRoot,
    distDir: join(appRoot, "frontend-pwa", "dist"),
    runtime,
    moto,
    s3,
    cloudFront,
  };
}

export interface DeployCall {
  result: ToolCallResult;
  out: DeployFrontendOutput;
  elapsedMs: number;
}

/** deploy_frontend of dist/ as an MCP client calls it (the one invocation path). */
export async function deployFrontend(site: FaultSite): Promise<DeployCall> {
  const started = Date.now();
  const result = await invokeTool(deployFrontendTool, { env: ENV, skipBuild: true }, site.runtime);
  return {
    result,
    out: result.structured as unknown as DeployFrontendOutput,
    elapsedMs: Date.now() - started,
  };
}

async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await (out.Body as NonNullable<typeof out.Body>).transformToByteArray());
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return null;
    throw error;
  }
}

export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === "NotFound" || (error as { name?: string }).name === "NoSuchKey")
      return false;
    throw error;
  }
}

async function listKeys(s3: S3Client, bucket: string): Promise<Set<string>> {
  const keys = new Set<string>();
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of out.Contents ?? []) if (object.Key) keys.add(object.Key);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** The headers a browser gets with an object, and the content hash the tool keeps as metadata. */
export async function headersOf(
  site: FaultSite,
  bucket: string,
  key: string,
): Promise<{
  contentType: string | undefined;
  cacheControl: string | undefined;
  sha256: string | undefined;
}> {
  const head = await site.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return { contentType: head.ContentType, cacheControl: head.CacheControl, sha256: head.Metadata?.sha256 };
}

/** Root-relative src/href references of an HTML page (what a browser fetches from the bucket). */
export function htmlReferences(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="\/([^"#?]+)"/g)].map((m) => m[1] as string);
}

/** The URLs a Workbox-style sw.js precaches. */
export function precacheReferences(swJs: string): string[] {
  const json = swJs.match(/self\.__WB_MANIFEST=(\[.*?\]);/s)?.[1];
  if (!json) throw new Error(`sw.js has no precache manifest: ${swJs.slice(0, 200)}`);
  return (JSON.parse(json) as Array<{ url: string }>).map((entry) => entry.url);
}

export type Owner = "A" | "B" | "absent" | "other";
export type LiveRelease = "A" | "B" | "mixed" | "other";

export interface ReadBack {
  /** A or B when every entry point in every bucket is that release's, byte for byte. */
  release: LiveRelease;
  entryPoints: Array<{ bucket: string; key: string; owner: Owner }>;
  /** Hash of each bucket's live index.html bytes, in bucket order (null: none). */
  indexHtml: Array<{ bucket: string; sha256: string | null }>;
  /** "bucket/key ← referrer": what the live index.html or sw.js references that the bucket lacks. */
  missing: string[];
  lockPresent: boolean;
}

/** What moto holds now, read straight from moto and compared with the builds on disk. */
export async function readBack(site: FaultSite, a: Build, b: Build): Promise<ReadBack> {
  const entryPoints: ReadBack["entryPoints"] = [];
  const indexHtml: ReadBack["indexHtml"] = [];
  const missing: string[] = [];
  for (const bucket of site.buckets) {
    const keys = await listKeys(site.s3, bucket);
    for (const key of ENTRY_POINTS) {
      const bytes = await getBytes(site.s3, bucket, key);
      const hash = bytes === null ? null : sha256(bytes);
      const owner: Owner =
        hash === null
          ? "absent"
          : hash === a.entrySha256.get(key)
            ? "A"
            : hash === b.entrySha256.get(key)
              ? "B"
              : "other";
      entryPoints.push({ bucket, key, owner });
      if (key === "index.html") indexHtml.push({ bucket, sha256: hash });
      if (bytes === null) continue;
      const refs =
        key === "index.html"
          ? htmlReferences(bytes.toString("utf8"))
          : key === "sw.js"
            ? precacheReferences(bytes.toString("utf8"))
            : [];
      for (const ref of refs) if (!keys.has(ref)) missing.push(`${bucket}/${ref} ← ${key}`);
    }
  }
  const owners = new Set(entryPoints.map((e) => e.owner));
  const release: LiveRelease =
    owners.size === 1 && owners.has("A")
      ? "A"
      : owners.size === 1 && owners.has("B")
        ? "B"
        : [...owners].every((o) => o === "A" || o === "B")
          ? "mixed"
          : "other";
  const lockPresent = await objectExists(site.s3, site.artifactBucket, `locks/${ENV}.json`);
  return { release, entryPoints, indexHtml, missing, lockPresent };
}

export async function loadRecord(
  site: FaultSite,
  releaseId: string | undefined,
): Promise<ReleaseRecord | null> {
  if (!releaseId) return null;
  return loadReleaseRecord(site.s3, site.artifactBucket, ENV, "frontend", releaseId);
}

/** Every invalidation moto holds for the site's distribution, with its caller reference and paths. */
export async function invalidations(
  site: FaultSite,
): Promise<Array<{ id: string; callerReference: string; paths: string[] }>> {
  const listed = await site.cloudFront.send(
    new ListInvalidationsCommand({ DistributionId: site.distributionId }),
  );
  const found: Array<{ id: string; callerReference: string; paths: string[] }> = [];
  for (const summary of listed.InvalidationList?.Items ?? []) {
    const got = await site.cloudFront.send(
      new GetInvalidationCommand({ DistributionId: site.distributionId, Id: summary.Id }),
    );
    found.push({
      id: summary.Id as string,
      callerReference: got.Invalidation?.InvalidationBatch?.CallerReference ?? "",
      paths: [...(got.Invalidation?.InvalidationBatch?.Paths?.Items ?? [])].sort(),
    });
  }
  return found;
}

/** Runs a fixCommand the tool handed out with the real aws CLI, against moto directly. */
export function runFixCommand(site: FaultSite, command: string): string {
  return execFileSync("sh", ["-c", command], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, AWS_ENDPOINT_URL: site.moto.endpoint },
  });
}
