import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TagResourceCommand } from "@aws-sdk/client-lambda";
import { ListObjectsV2Command, PutBucketTaggingCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { PROTECTED_TAG, protectionFromTags } from "../../src/release/protection-tags.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployFrontendTool } from "../../src/tools/deploy-frontend.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { createDeployedFunction, liveCodeSha256 } from "../deploy/lambda-support.js";
import { createBucket, createTestFunction } from "../support/aws-fixtures.js";
import { commitFixture, writeBackendFixture } from "../support/backend-fixture.js";
import { writeViteDist } from "../support/dist-fixture.js";
import { useMoto } from "../support/moto.js";
import { testRuntime, toolContextFor } from "../support/runtime.js";

/**
 * A resource tagged vyaparai-deploy:protected=true protects every env that points at it,
 * whatever the config says: the team's policy lives with the infrastructure.
 */
const moto = useMoto();
const TAGGED_SITE = `vyaparai-site-tagged-${process.pid}`;
const PLAIN_SITE = `vyaparai-site-plain-${process.pid}`;
const ARTIFACTS = `vyaparai-artifacts-tags-${process.pid}`;
const FUNCTION = `vyaparai-api-tagged-${process.pid}`;

async function siteKeys(bucket: string): Promise<string[]> {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key as string);
}

function runtimeFor(appRoot: string) {
  const env = (bucket: string) => ({
    lambda: { functionName: FUNCTION, alias: null, artifactBucket: ARTIFACTS, artifactPrefix: "backend/" },
    frontend: { buckets: [bucket], distributionId: null, url: null },
    health: [],
  });
  return testRuntime({
    moto: moto.current,
    appRoot,
    config: {
      environments: {
        preview: { ...env(TAGGED_SITE), lambda: { ...env(TAGGED_SITE).lambda, functionName: "absent-fn" } },
        scratch: { ...env(PLAIN_SITE), lambda: { ...env(PLAIN_SITE).lambda, functionName: "absent-fn" } },
        api: env(PLAIN_SITE),
      },
      frontend: { buildCommand: null, testCommand: null },
    },
  });
}

describe("protection from tags", () => {
  it("an env named preview pointing at a tagged bucket needs a token and a preflight; an untagged one deploys", async () => {
    const s3 = await moto.current.clients().s3();
    for (const bucket of [TAGGED_SITE, PLAIN_SITE, ARTIFACTS]) await createBucket(s3, bucket);
    await s3.send(
      new PutBucketTaggingCommand({
        Bucket: TAGGED_SITE,
        Tagging: { TagSet: [{ Key: PROTECTED_TAG, Value: "true" }] },
      }),
    );
    const appRoot = mkdtempSync(join(tmpdir(), "vyaparai-tags-"));
    writeViteDist(join(appRoot, "frontend-pwa", "dist"), { files: 12 });
    const runtime = runtimeFor(appRoot);

    const plan = await invokeTool(deployFrontendTool, { env: "preview", skipBuild: true }, runtime);
    expect(plan.structured).toMatchObject({ status: "confirmation_required" });
    const token = (plan.structured as { confirmationToken: string }).confirmationToken;
    const confirmed = await invokeTool(
      deployFrontendTool,
      { env: "preview", skipBuild: true, confirmationToken: token },
      runtime,
    );
    // Tests first: the app root is no git repo, so no preflight can vouch for it.
    expect(confirmed.isError).toBe(true);
    expect(confirmed.structured.error).toMatchObject({ code: "REFUSED" });
    expect(await siteKeys(TAGGED_SITE)).toEqual([]);

    const honest = await invokeTool(deployFrontendTool, { env: "scratch", skipBuild: true }, runtime);
    expect(honest.isError, honest.text).toBe(false);
    expect(await siteKeys(PLAIN_SITE)).toContain("index.html");
    runtime.close();
  }, 60_000);

  it("a committed env named hotfix pointing at prod's function needs a token: nothing deploys in one call", async () => {
    const prodFunction = `vyaparai-api-hotfix-prod-${process.pid}`;
    const s3 = await moto.current.clients().s3();
    await createBucket(s3, ARTIFACTS).catch(() => {});
    const initial = await createDeployedFunction(moto.current, ARTIFACTS, prodFunction, "backend/");
    const { appRoot } = writeBackendFixture({ variant: "hotfix" });
    const lambda = {
      functionName: prodFunction,
      alias: null,
      artifactBucket: ARTIFACTS,
      artifactPrefix: "backend/",
    };
    const runtime = testRuntime({
      moto: moto.current,
      appRoot,
      config: {
        environments: {
          prod: { lambda, frontend: { buckets: ["hotfix-prod-site"], distributionId: null, url: null } },
          // protected: false is what the hotfix env's author wrote; prod's function overrules it.
          hotfix: {
            protected: false,
            lambda,
            frontend: { buckets: ["hotfix-site"], distributionId: null, url: null },
          },
        },
      },
    });
    commitFixture(appRoot, "hotfix env");
    const result = await invokeTool(deployLambdaTool, { env: "hotfix" }, runtime);
    expect(result.isError, result.text).toBe(false);
    expect(result.structured).toMatchObject({ status: "confirmation_required" });
    expect(await liveCodeSha256(await moto.current.clients().lambda(), prodFunction)).toBe(
      initial.codeSha256,
    );
    runtime.close();
  }, 60_000);

  it("a tagged function protects its env, and an unreadable tag counts as protected", async () => {
    const lambda = await moto.current.clients().lambda();
    const created = await createTestFunction(moto.current, lambda, { name: FUNCTION });
    await lambda.send(
      new TagResourceCommand({ Resource: created.functionArn, Tags: { [PROTECTED_TAG]: "TRUE" } }),
    );
    const runtime = runtimeFor(mkdtempSync(join(tmpdir(), "vyaparai-tags-fn-")));
    const ctx = toolContextFor(runtime, { envName: "api" });
    expect(await protectionFromTags(ctx)).toEqual([
      `its function ${FUNCTION} carries the tag ${PROTECTED_TAG}=true`,
    ]);
    const broken = {
      ...ctx,
      aws: {
        ...ctx.aws,
        lambda: ctx.aws.lambda,
        s3: async () =>
          ({
            send: async () => {
              throw Object.assign(new Error("denied"), { name: "AccessDenied" });
            },
          }) as never,
      },
    };
    expect(await protectionFromTags(broken)).toContain(
      `the tags of its site bucket ${PLAIN_SITE} could not be read (AccessDenied), so it is treated as protected`,
    );
    runtime.close();
  });
});
