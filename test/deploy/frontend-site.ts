import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetInvalidationCommand } from "@aws-sdk/client-cloudfront";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { type InvocationHooks, invokeTool } from "../../src/server/invoke.js";
import type { Runtime } from "../../src/server/runtime.js";
import { deployFrontendTool } from "../../src/tools/deploy-frontend.js";
import type { DeployFrontendOutput } from "../../src/tools/flows/deploy-frontend.js";
import { createBucket, createSiteDistribution } from "../support/aws-fixtures.js";
import type { Moto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";

/** Shared set-up of the frontend tests: one env's site bucket, artifact bucket and distribution on moto. */
export interface Site {
  name: string;
  env: string;
  moto: Moto;
  bucket: string;
  artifactBucket: string;
  distributionId: string;
  appRoot: string;
  distDir: string;
  runtime: Runtime;
  /** Every S3 call of the tool, with the SHA-256 checksum a write asked S3 to enforce. */
  calls: Array<{ command: string; bucket?: string; key?: string; checksumSha256?: string }>;
  failWhen: (predicate: ((call: { command: string; key?: string }) => boolean) | null) => void;
}

let siteCounter = 0;

/** A dev env with its own site bucket, artifact bucket and CloudFront distribution on moto. */
export async function createSite(
  moto: Moto,
  options: {
    env?: string;
    buildCommand?: string | null;
    config?: Record<string, unknown>;
    /** Extra site buckets after the primary one. */
    extraBuckets?: number;
    url?: string;
  } = {},
): Promise<Site> {
  const envName = options.env ?? "dev";
  const name = `fe${++siteCounter}`;
  const clients = moto.clients();
  const s3 = await clients.s3();
  const bucket = `site-${name}`;
  const artifactBucket = `artifacts-${name}`;
  await createBucket(s3, bucket);
  await createBucket(s3, artifactBucket);
  const extraBuckets = Array.from({ length: options.extraBuckets ?? 0 }, (_, i) => `site-${name}-extra${i}`);
  for (const extra of extraBuckets) await createBucket(s3, extra);
  const distributionId = await createSiteDistribution(await clients.cloudFront(), {
    callerReference: `dist-${name}`,
    comment: name,
    siteBucket: bucket,
    defaultRootObject: "index.html",
  });
  const appRoot = mkdtempSync(join(tmpdir(), "vyaparai-fe-"));
  const runtime = testRuntime({
    moto,
    appRoot,
    config: {
      environments: {
        [envName]: {
          lambda: { functionName: `fn-${name}`, artifactBucket },
          frontend: {
            buckets: [bucket, ...extraBuckets],
            distributionId,
            url: options.url ?? null,
          },
        },
      },
      frontend: { buildCommand: options.buildCommand ?? null },
      ...(options.config ?? {}),
    },
  });
  const site: Site = {
    name,
    bucket,
    artifactBucket,
    distributionId,
    appRoot,
    distDir: join(appRoot, "frontend-pwa", "dist"),
    runtime,
    env: envName,
    moto,
    calls: [],
    failWhen: () => {},
  };
  // Every S3 call the tool makes, and a way to make one fail (a fault moto cannot produce).
  let fail: ((call: { command: string; key?: string }) => boolean) | null = null;
  site.failWhen = (predicate) => {
    fail = predicate;
  };
  const toolS3 = await runtime.clientsFor(envName).s3();
  toolS3.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Bucket?: string; Key?: string; ChecksumSHA256?: string };
      const call = {
        command: context.commandName as string,
        bucket: input.Bucket,
        key: input.Key,
        ...(input.ChecksumSHA256 ? { checksumSha256: input.ChecksumSHA256 } : {}),
      };
      if (fail?.(call))
        throw Object.assign(new Error("injected: connection reset"), { name: "InternalError" });
      site.calls.push(call);
      return next(args);
    },
    { step: "initialize", name: "recordCalls" },
  );
  return site;
}

export async function deploy(site: Site, args: Record<string, unknown> = {}, hooks: InvocationHooks = {}) {
  site.calls.length = 0;
  const result = await invokeTool(
    deployFrontendTool,
    { env: site.env, skipBuild: true, ...args },
    site.runtime,
    hooks,
  );
  return { result, out: result.structured as unknown as DeployFrontendOutput };
}

export function writes(site: Site, bucket = site.bucket): string[] {
  return site.calls
    .filter(
      (c) => (c.command === "PutObjectCommand" || c.command === "CopyObjectCommand") && c.bucket === bucket,
    )
    .map((c) => c.key as string)
    .sort();
}

export async function getBytes(site: Site, bucket: string, key: string): Promise<Buffer> {
  const out = await (await site.moto.clients().s3()).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function exists(site: Site, bucket: string, key: string): Promise<boolean> {
  try {
    await (await site.moto.clients().s3()).send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

/** Every object of a bucket with its bytes, read straight from moto. */
export async function readAll(site: Site, bucket: string): Promise<Map<string, Buffer>> {
  const s3 = await site.moto.clients().s3();
  const found = new Map<string, Buffer>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? [])
      if (object.Key) found.set(object.Key, await getBytes(site, bucket, object.Key));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found;
}

/** Every src/href asset the live index.html references is in the bucket. */
export async function liveIndexIsWhole(
  site: Site,
  bucket = site.bucket,
): Promise<{ html: string; missing: string[] }> {
  const html = (await getBytes(site, bucket, "index.html")).toString("utf8");
  const refs = [...html.matchAll(/(?:src|href)="\/([^"]+)"/g)].map((m) => m[1] as string);
  const missing: string[] = [];
  for (const ref of refs) if (!(await exists(site, bucket, ref))) missing.push(ref);
  return { html, missing };
}

export async function invalidationPaths(site: Site, id: string): Promise<string[]> {
  const cloudFront = await site.moto.clients().cloudFront();
  const out = await cloudFront.send(
    new GetInvalidationCommand({ DistributionId: site.distributionId, Id: id }),
  );
  return [...(out.Invalidation?.InvalidationBatch?.Paths?.Items ?? [])].sort();
}

export function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}
