import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import {
  createAliasedFunction,
  createDeployedFunction,
  seedInitialArtifact,
} from "../deploy/lambda-support.js";
import { createBucket } from "../support/aws-fixtures.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { writeViteDist } from "../support/dist-fixture.js";
import { powertoolsLine, seedLogEvents } from "../support/log-seeder.js";
import type { Moto } from "../support/moto.js";

/**
 * The emulated world the tool fuzz runs against. It is armed: the app root holds a backend
 * that packages differently from the code live on both functions and a dist/ that differs
 * from both sites, so a single invalid call the server let through on dev would really deploy
 * and show up in the read-back.
 */
export const WORLD = {
  artifacts: "vyaparai-fuzz-artifacts",
  siteDev: "vyaparai-fuzz-site-dev",
  siteProd: "vyaparai-fuzz-site-prod",
  functionDev: "vyaparai-api-fuzz-dev",
  functionProd: "vyaparai-api-fuzz-prod",
  logGroupDev: "/aws/lambda/vyaparai-api-fuzz-dev",
  tableDev: "vyaparai-orders-dev",
} as const;

export async function buildToolWorld(moto: Moto): Promise<{ appRoot: string }> {
  const clients = moto.clients();
  const s3 = await clients.s3();
  for (const bucket of [WORLD.artifacts, WORLD.siteDev, WORLD.siteProd]) await createBucket(s3, bucket);
  await createDeployedFunction(moto, WORLD.artifacts, WORLD.functionDev, "backend/dev/");
  const published = await createAliasedFunction(moto, await clients.lambda(), WORLD.functionProd);
  await seedInitialArtifact(s3, WORLD.artifacts, "backend/", published.CodeSha256 as string);
  // A previous release on each site: a deploy would overwrite index.html and add assets.
  for (const bucket of [WORLD.siteDev, WORLD.siteProd]) {
    for (const [key, body] of [
      ["index.html", `<!doctype html><title>${bucket}</title>`],
      ["assets/old-1a2b3c4d.js", "console.log('old');"],
    ]) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    }
  }
  await (await clients.dynamoDb()).send(
    new CreateTableCommand({
      TableName: WORLD.tableDev,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    }),
  );
  const now = Date.now();
  await seedLogEvents(
    await clients.logs(),
    WORLD.logGroupDev,
    "2026/01/01/[$LATEST]fuzz",
    Array.from({ length: 40 }, (_, i) => ({
      timestamp: now - 5 * 60_000 + i * 1_000,
      message: powertoolsLine({
        level: i % 7 === 0 ? "ERROR" : "INFO",
        message: i % 7 === 0 ? `order ${i} failed: timeout` : `order ${i} listed`,
        requestId: `req-${i % 5}`,
      }),
    })),
  );

  const { appRoot } = writeBackendFixture({ variant: "fuzz", commit: true });
  writeViteDist(join(appRoot, "frontend-pwa", "dist"), { files: 20 });
  // An existing (empty) terraform dir: terraform_apply then reaches its planDigest check.
  mkdirSync(join(appRoot, "infrastructure", "terraform"), { recursive: true });
  const envOf = (fn: string, alias: string | null, prefix: string, site: string) => ({
    lambda: { functionName: fn, alias, artifactBucket: WORLD.artifacts, artifactPrefix: prefix },
    frontend: { buckets: [site], distributionId: null, url: null },
    // No health targets: nothing leaves the machine, and valid read-only calls stay quick.
    health: [],
  });
  writeFileSync(
    join(appRoot, "deploy.config.json"),
    JSON.stringify({
      environments: {
        dev: {
          protected: false,
          ...envOf(WORLD.functionDev, null, "backend/dev/", WORLD.siteDev),
          logGroup: WORLD.logGroupDev,
        },
        prod: { protected: true, ...envOf(WORLD.functionProd, "live", "backend/", WORLD.siteProd) },
      },
    }),
  );
  return { appRoot };
}
