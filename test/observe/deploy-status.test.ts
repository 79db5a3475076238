import { createHash } from "node:crypto";
import { GetFunctionConfigurationCommand, UpdateFunctionCodeCommand } from "@aws-sdk/client-lambda";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { beforeAll, describe, expect, it } from "vitest";
import { newReleaseId, writeReleaseRecord } from "../../src/release/records.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployStatusTool } from "../../src/tools/deploy-status.js";
import { createBucket, createTestFunction, zipOf } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";

const moto = useMoto();
const FUNCTION = `vyaparai-api-status-${process.pid}`;
const ARTIFACTS = `vyaparai-artifacts-status-${process.pid}`;
const SITE = `vyaparai-site-status-${process.pid}`;
const INDEX = "<!doctype html><script src=/assets/index-abc123.js></script>";
const INDEX_SHA = createHash("sha256").update(INDEX).digest("hex");

type StatusOut = {
  summary: string;
  lambda: { codeSha256: string; liveVersion: string; matchedReleaseId: string | null; exists: boolean };
  frontend: { indexHtmlSha256: string | null; matchedReleaseId: string | null; indexHtmlPresent: boolean };
  releases: Array<{ releaseId: string; component: string; status: string; who: string }>;
  drift: string[];
};

function record(
  fields: Partial<ReleaseRecord> & Pick<ReleaseRecord, "component" | "startedAt">,
): ReleaseRecord {
  return {
    releaseId: newReleaseId(new Date(fields.startedAt)),
    env: "prod",
    tool: fields.component === "lambda" ? "deploy_lambda" : "deploy_frontend",
    status: "succeeded",
    who: "arn:aws:sts::123456789012:assumed-role/deployer/alice",
    gitSha: "0123456789abcdef0123456789abcdef01234567",
    finishedAt: fields.startedAt,
    planDigest: "digest",
    artifacts: {},
    before: {},
    after: {},
    timings: {},
    ...fields,
  };
}

const config = {
  environments: {
    prod: {
      lambda: { functionName: FUNCTION, artifactBucket: ARTIFACTS },
      frontend: { buckets: [SITE], distributionId: null, url: null },
    },
  },
};

describe("deploy_status against moto", () => {
  let initialSha: string;
  let lambdaReleaseId: string;
  let frontendReleaseId: string;

  beforeAll(async () => {
    const clients = moto.current.clients();
    const s3 = await clients.s3();
    ({ codeSha256: initialSha } = await createTestFunction(moto.current, await clients.lambda(), {
      name: FUNCTION,
    }));
    await createBucket(s3, ARTIFACTS);
    await createBucket(s3, SITE);
    await s3.send(
      new PutObjectCommand({
        Bucket: SITE,
        Key: "index.html",
        Body: INDEX,
        ContentType: "text/html",
        Metadata: { sha256: INDEX_SHA },
      }),
    );
    const lambdaRecord = record({
      component: "lambda",
      startedAt: new Date(Date.now() - 30 * 60_000).toISOString(),
      after: { version: "$LATEST", codeSha256: initialSha },
    });
    const frontendRecord = record({
      component: "frontend",
      startedAt: new Date(Date.now() - 20 * 60_000).toISOString(),
      after: { indexHtmlSha256: INDEX_SHA, switched: true },
    });
    lambdaReleaseId = lambdaRecord.releaseId;
    frontendReleaseId = frontendRecord.releaseId;
    await writeReleaseRecord(s3, ARTIFACTS, lambdaRecord);
    await writeReleaseRecord(s3, ARTIFACTS, frontendRecord);
  });

  it("matches live state to the release records: no drift", async () => {
    const runtime = testRuntime({ moto: moto.current, config });
    const result = await invokeTool(deployStatusTool, {}, runtime);
    expect(result.isError, result.text).toBe(false);
    const out = result.structured as StatusOut;
    expect(out.drift).toEqual([]);
    expect(out.lambda).toMatchObject({
      exists: true,
      codeSha256: initialSha,
      liveVersion: "$LATEST",
      matchedReleaseId: lambdaReleaseId,
    });
    expect(out.frontend).toMatchObject({ indexHtmlSha256: INDEX_SHA, matchedReleaseId: frontendReleaseId });
    expect(out.releases.map((r) => [r.component, r.releaseId])).toEqual([
      ["frontend", frontendReleaseId],
      ["lambda", lambdaReleaseId],
    ]);
    expect(out.releases[0]?.who).toMatch(/alice$/);
    expect(out.summary).toMatch(/no drift\.$/);
    runtime.close();
  });

  it("shows drift after the function's code and index.html are changed outside the tools", async () => {
    const clients = moto.current.clients();
    const lambda = await clients.lambda();
    await lambda.send(
      new UpdateFunctionCodeCommand({
        FunctionName: FUNCTION,
        ZipFile: await zipOf({ "lambda_handler.py": "def handler(e, c):\n    return 'hotfix'\n" }),
      }),
    );
    const liveSha = (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: FUNCTION })))
      .CodeSha256;
    expect(liveSha).not.toBe(initialSha);
    await (await clients.s3()).send(
      new PutObjectCommand({
        Bucket: SITE,
        Key: "index.html",
        Body: "<!doctype html>hand edit",
        ContentType: "text/html",
      }),
    );

    const runtime = testRuntime({ moto: moto.current, config });
    const out = (await invokeTool(deployStatusTool, {}, runtime)).structured as StatusOut;
    expect(out.lambda.codeSha256).toBe(liveSha);
    expect(out.lambda.matchedReleaseId).toBeNull();
    expect(out.drift).toEqual([
      expect.stringMatching(
        new RegExp(
          `^Lambda ${FUNCTION}: live CodeSha256 .* differs from release ${lambdaReleaseId} .*changed outside the deploy tools$`,
        ),
      ),
      expect.stringMatching(/index\.html has no sha256 metadata \(uploaded outside deploy_frontend\)$/),
      expect.stringMatching(
        new RegExp(
          `^Frontend: live index\\.html differs from release ${frontendReleaseId}; it matches no release$`,
        ),
      ),
    ]);
    expect(out.summary).toMatch(/3 drift finding\(s\)/);
    runtime.close();
  });

  it("reports an in-progress release older than the lock timeout", async () => {
    const s3 = await moto.current.clients().s3();
    const stuck = record({
      component: "lambda",
      status: "in_progress",
      finishedAt: null,
      startedAt: new Date(Date.now() - 3 * 3600_000).toISOString(),
    });
    await writeReleaseRecord(s3, ARTIFACTS, stuck);
    const runtime = testRuntime({ moto: moto.current, config });
    const out = (await invokeTool(deployStatusTool, {}, runtime)).structured as StatusOut;
    expect(out.drift).toContainEqual(
      expect.stringMatching(
        new RegExp(`^Release ${stuck.releaseId} \\(lambda, deploy_lambda\\) has been in progress since`),
      ),
    );
    runtime.close();
  });

  it("an env with nothing deployed says so instead of failing", async () => {
    const runtime = testRuntime({
      moto: moto.current,
      config: {
        environments: {
          prod: {
            lambda: { functionName: "vyaparai-api-nothing", artifactBucket: "vyaparai-no-artifacts" },
            frontend: { buckets: ["vyaparai-no-site"], distributionId: null, url: null },
          },
        },
      },
    });
    const result = await invokeTool(deployStatusTool, {}, runtime);
    expect(result.isError, result.text).toBe(false);
    const out = result.structured as StatusOut;
    expect(out.lambda.exists).toBe(false);
    expect(out.frontend.indexHtmlPresent).toBe(false);
    expect(out.releases).toEqual([]);
    expect(out.drift).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^No lambda release records could be read from s3:\/\/vyaparai-no-artifacts/),
      ]),
    );
    runtime.close();
  });
});
