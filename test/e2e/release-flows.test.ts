import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetInvalidationCommand, ListInvalidationsCommand } from "@aws-sdk/client-cloudfront";
import { GetFunctionCommand } from "@aws-sdk/client-lambda";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalHealthServer, startHealthServer } from "../../src/demo/health-server.js";
import { commitAll, writeBackend, writeFrontend, writeSampleApp } from "../../src/demo/sample-app.js";
import { type SeededWorld, seedWorld, type WorldNames } from "../../src/demo/world.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";
import { bodyText } from "../support/s3-body.js";
import { connectStdio, type StdioSession } from "../support/stdio.js";
import { motoS3Backend } from "../support/terraform-backend.js";
import { worldNames } from "../support/world-names.js";

/**
 * The /deploy sequences of the slash command, run through the built stdio server against
 * moto and a generated app repo, each checked by reading AWS state directly.
 */
const moto = useMoto();
const TABLES = ["orders", "stores"];
const world: Record<string, SeededWorld> = {};
let health: LocalHealthServer;
let appRoot: string;
let session: StdioSession;

function names(env: string): WorldNames {
  return worldNames(env, TABLES);
}

type Structured = Record<string, unknown>;

async function call(
  name: string,
  args: Record<string, unknown>,
): Promise<{ isError: boolean; s: Structured; text: string }> {
  const result = await session.client.callTool({ name, arguments: args }, undefined, { timeout: 300_000 });
  const text = (result.content as Array<{ text: string }>)[0]?.text ?? "";
  return { isError: Boolean(result.isError), s: (result.structuredContent ?? {}) as Structured, text };
}

async function ok(name: string, args: Record<string, unknown>): Promise<Structured> {
  const result = await call(name, args);
  if (result.isError) throw new Error(`${name} failed: ${result.text}`);
  return result.s;
}

async function liveCodeSha(env: string): Promise<string> {
  const lambda = await moto.current.clients().lambda();
  const fn = await lambda.send(new GetFunctionCommand({ FunctionName: `vyaparai-api-${env}` }));
  return fn.Configuration?.CodeSha256 as string;
}

async function objectText(bucket: string, key: string): Promise<string> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return bodyText(out);
}

async function keys(bucket: string, prefix = ""): Promise<string[]> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key as string);
}

/** A new commit and a passing preflight, as the slash command does before a prod deploy. */
async function commitAndPreflight(message: string, components: string[]): Promise<void> {
  commitAll(appRoot, message);
  const preflight = await ok("preflight", { env: "prod", components });
  expect(preflight.ok).toBe(true);
}

beforeAll(async () => {
  const aws = moto.current.clients();
  world.prod = await seedWorld(aws, names("prod"), moto.current.endpoint);
  world.dev = await seedWorld(aws, names("dev"), moto.current.endpoint);
  await createBucket(await aws.s3(), "vyaparai-terraform-state");
  health = await startHealthServer();
  appRoot = mkdtempSync(join(tmpdir(), "vyaparai-e2e-app-"));
  const envOverrides = (env: string) => ({
    frontend: {
      buckets: [`vyaparai-frontend-${env}`],
      distributionId: world[env]?.distributionId,
      url: null,
    },
    health: [
      { name: "api", url: health.url, expectStatus: 200, expectJson: { status: "ok" }, timeoutMs: 2000 },
    ],
    tables: { expected: TABLES },
    terraform: {
      backendConfig: motoS3Backend(
        moto.current.endpoint,
        "vyaparai-terraform-state",
        `infrastructure/${env}.tfstate`,
      ),
    },
  });
  writeSampleApp({
    root: appRoot,
    config: {
      environments: { prod: envOverrides("prod"), dev: envOverrides("dev") },
      backend: { testCommand: "python3 -m pytest -q -p no:cacheprovider" },
    },
  });
  session = await connectStdio({ cwd: appRoot, env: { AWS_ENDPOINT_URL: moto.current.endpoint } });
});

afterAll(async () => {
  await session?.close();
  await health?.close();
});

describe("/deploy flows end to end over stdio", () => {
  it("lambda to dev: no token needed, live code is the package", async () => {
    const out = await ok("deploy_lambda", { env: "dev" });
    expect(out.status).toBe("deployed");
    expect(await liveCodeSha("dev")).toBe(out.codeSha256);
    expect(await liveCodeSha("dev")).not.toBe(world.dev?.initialCodeSha256);
    const artifacts = await keys("vyaparai-lambda-deployments", "backend/dev/");
    expect(artifacts.some((k) => k.endsWith(".zip"))).toBe(true);
  });

  it("backend to prod: preflight → confirmation → token → deployed → healthy", async () => {
    await commitAndPreflight("backend release", ["backend"]);
    const artifactsBefore = await keys("vyaparai-lambda-deployments", "backend/");
    const first = await ok("deploy_lambda", { env: "prod" });
    expect(first.status).toBe("confirmation_required");
    expect(typeof first.confirmationToken).toBe("string");
    // Safety: planning changed nothing: same live code, no new artifact, no lock, no record.
    expect(await liveCodeSha("prod")).toBe(world.prod?.initialCodeSha256);
    expect(await keys("vyaparai-lambda-deployments", "backend/")).toEqual(artifactsBefore);
    expect(await keys("vyaparai-lambda-deployments", "locks/")).toEqual([]);
    expect(await keys("vyaparai-lambda-deployments", "releases/prod/")).toEqual([]);
    const second = await ok("deploy_lambda", { env: "prod", confirmationToken: first.confirmationToken });
    expect(second.status).toBe("deployed");
    expect(await liveCodeSha("prod")).toBe(second.codeSha256);
    const reused = await call("deploy_lambda", {
      env: "prod",
      force: true,
      confirmationToken: first.confirmationToken,
    });
    expect(reused.isError).toBe(true);
    const healthReport = await ok("health_check", { env: "prod" });
    expect(healthReport.verdict).toBe("healthy");
    expect(
      (await keys("vyaparai-lambda-deployments", "releases/prod/lambda/")).length,
    ).toBeGreaterThanOrEqual(1);
  });

  it("frontend to prod: assets and entry points with headers, targeted invalidation", async () => {
    await commitAndPreflight("frontend release", ["frontend"]);
    const first = await ok("deploy_frontend", { env: "prod" });
    expect(first.status).toBe("confirmation_required");
    expect(await keys("vyaparai-frontend-prod")).toEqual([]);
    const second = await ok("deploy_frontend", { env: "prod", confirmationToken: first.confirmationToken });
    expect(second.status).toBe("deployed");
    const s3 = await moto.current.clients().s3();
    const index = await s3.send(
      new HeadObjectCommand({ Bucket: "vyaparai-frontend-prod", Key: "index.html" }),
    );
    expect(index.ContentType).toMatch(/text\/html/);
    expect(index.CacheControl).toBe("no-cache");
    const html = await objectText("vyaparai-frontend-prod", "index.html");
    const asset = /src="\/(assets\/index-[0-9a-f]+\.js)"/.exec(html)?.[1] as string;
    const head = await s3.send(new HeadObjectCommand({ Bucket: "vyaparai-frontend-prod", Key: asset }));
    expect(head.CacheControl).toBe("public, max-age=31536000, immutable");
    const cloudFront = await moto.current.clients().cloudFront();
    const list = await cloudFront.send(
      new ListInvalidationsCommand({ DistributionId: world.prod?.distributionId }),
    );
    expect(list.InvalidationList?.Quantity ?? 0).toBeGreaterThanOrEqual(1);
  });

  it("infra --plan: terraform plan with the S3 backend on the emulator", async () => {
    const plan = await ok("terraform_plan", { env: "dev" });
    expect(plan.status).toBe("changes");
    expect((plan.counts as { create: number }).create).toBe(2);
    expect(plan.planDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a failed health gate rolls the Lambda back automatically", async () => {
    const before = await liveCodeSha("prod");
    writeBackend(appRoot, "2.0.0-broken");
    await commitAndPreflight("broken api", ["backend"]);
    health.healthy = false;
    try {
      const first = await ok("deploy_lambda", { env: "prod" });
      const second = await call("deploy_lambda", { env: "prod", confirmationToken: first.confirmationToken });
      // A release that did not stay live is an error, and still carries its full structured result
      // (which the SDK client has validated against the outputSchema).
      expect(second.isError).toBe(true);
      expect(second.s.status).toBe("rolled_back");
      expect(second.s.live).toEqual({ version: "$LATEST", codeSha256: before });
    } finally {
      health.healthy = true;
    }
    expect(await liveCodeSha("prod")).toBe(before);
  });

  it("rollback of each component restores the previous state", async () => {
    // A second good backend and frontend release, then roll both back.
    const firstGood = await liveCodeSha("prod");
    const firstIndex = await objectText("vyaparai-frontend-prod", "index.html");
    writeBackend(appRoot, "3.0.0");
    writeFrontend(appRoot, "3.0.0");
    await commitAndPreflight("v3", ["backend", "frontend"]);
    for (const tool of ["deploy_lambda", "deploy_frontend"]) {
      const first = await ok(tool, { env: "prod" });
      const done = await ok(tool, { env: "prod", confirmationToken: first.confirmationToken });
      expect(done.status).toBe("deployed");
    }
    expect(await liveCodeSha("prod")).not.toBe(firstGood);
    expect(await objectText("vyaparai-frontend-prod", "index.html")).not.toBe(firstIndex);

    for (const component of ["lambda", "frontend"]) {
      const first = await ok("rollback", { env: "prod", component });
      expect(first.status).toBe("confirmation_required");
      const done = await ok("rollback", {
        env: "prod",
        component,
        confirmationToken: first.confirmationToken,
      });
      expect(done.status).toBe("rolled_back");
    }
    expect(await liveCodeSha("prod")).toBe(firstGood);
    expect(await objectText("vyaparai-frontend-prod", "index.html")).toBe(firstIndex);
    const cloudFront = await moto.current.clients().cloudFront();
    const list = await cloudFront.send(
      new ListInvalidationsCommand({ DistributionId: world.prod?.distributionId }),
    );
    const newest = list.InvalidationList?.Items?.[0]?.Id as string;
    const invalidation = await cloudFront.send(
      new GetInvalidationCommand({ DistributionId: world.prod?.distributionId, Id: newest }),
    );
    expect(invalidation.Invalidation?.InvalidationBatch?.Paths?.Items ?? []).not.toHaveLength(0);
  });
});
