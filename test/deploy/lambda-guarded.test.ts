import { GetFunctionCommand } from "@aws-sdk/client-lambda";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { createBucket, createTestFunction } from "../support/aws-fixtures.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { createGitRepo } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";
import {
  INITIAL_FILES,
  listKeys,
  packageOf,
  seedInitialArtifact,
  startHealthServer,
} from "./lambda-support.js";

const moto = useMoto();
const BUCKET = "vyaparai-artifacts-guarded-test";
let health: Awaited<ReturnType<typeof startHealthServer>>;

beforeAll(async () => {
  health = await startHealthServer();
  await createBucket(await moto.current.clients().s3(), BUCKET);
});
afterAll(async () => {
  await health?.close();
});

function envConfig(functionName: string, prefix: string) {
  return {
    lambda: { functionName, alias: null, artifactBucket: BUCKET, artifactPrefix: prefix },
    health: [{ name: "api", url: health.url }],
  };
}

interface Out {
  status: string;
  codeSha256: string;
  confirmationToken?: string;
  expiresAt?: string;
  releaseId?: string;
  plan: Record<string, unknown>;
}

describe("deploy_lambda on a protected env", () => {
  it("plans and issues a token, refuses without a passing preflight, deploys with both", async () => {
    const functionName = "vyaparai-api-guarded-prod";
    const prefix = "backend/guarded-prod/";
    const clients = moto.current.clients();
    const lambda = await clients.lambda();
    const initial = await createTestFunction(moto.current, lambda, {
      name: functionName,
      files: INITIAL_FILES,
    });
    await seedInitialArtifact(await clients.s3(), BUCKET, prefix, initial.codeSha256);
    const repo = createGitRepo();
    writeBackendFixture({ appRoot: repo.dir });
    const runtime = testRuntime({
      moto: moto.current,
      appRoot: repo.dir,
      config: { environments: { prod: envConfig(functionName, prefix) } },
    });
    const head = repo.commitAll("backend");
    const liveSha = async () =>
      (await lambda.send(new GetFunctionCommand({ FunctionName: functionName }))).Configuration?.CodeSha256;
    const keysBefore = await listKeys(await clients.s3(), BUCKET);

    const ask = await invokeTool(deployLambdaTool, { env: "prod" }, runtime);
    expect(ask.isError, ask.text).toBe(false);
    const asked = ask.structured as unknown as Out;
    expect(asked.status).toBe("confirmation_required");
    expect(asked.confirmationToken).toBeTruthy();
    expect(Date.parse(asked.expiresAt as string)).toBeGreaterThan(Date.now());
    // Nothing changed: same code, same objects (no artifact, no record, no lock).
    expect(await liveSha()).toBe(initial.codeSha256);
    expect(await listKeys(await clients.s3(), BUCKET)).toEqual(keysBefore);

    // Tests first: no preflight for this HEAD yet.
    const noPreflight = await invokeTool(
      deployLambdaTool,
      { env: "prod", confirmationToken: asked.confirmationToken },
      runtime,
    );
    expect(noPreflight.isError).toBe(true);
    expect(noPreflight.text).toMatch(/Tests first: no preflight/);
    expect(await liveSha()).toBe(initial.codeSha256);

    runtime.preflights.set("prod", {
      preflightId: "pf-test",
      env: "prod",
      gitSha: head,
      clean: true,
      ok: true,
      at: new Date().toISOString(),
      components: ["backend"],
    });
    const ask2 = await invokeTool(deployLambdaTool, { env: "prod" }, runtime);
    const token = (ask2.structured as unknown as Out).confirmationToken;
    const expected = await packageOf(repo.dir);
    const done = await invokeTool(deployLambdaTool, { env: "prod", confirmationToken: token }, runtime);
    expect(done.isError, done.text).toBe(false);
    const out = done.structured as unknown as Out;
    expect(out.status).toBe("deployed");
    expect(await liveSha()).toBe(expected.codeSha256);
    const record = JSON.parse(
      (await (
        await (
          await clients.s3()
        ).send(new GetObjectCommand({ Bucket: BUCKET, Key: `releases/prod/lambda/${out.releaseId}.json` }))
      ).Body?.transformToString()) as string,
    );
    expect(record).toMatchObject({ status: "succeeded", gitSha: head });
    runtime.close();
  });
});

describe("cancelling deploy_lambda", () => {
  it("before the switch leaves the previous code live and the lock released", async () => {
    const functionName = "vyaparai-api-guarded-cancel";
    const prefix = "backend/guarded-cancel/";
    const clients = moto.current.clients();
    const lambda = await clients.lambda();
    const initial = await createTestFunction(moto.current, lambda, {
      name: functionName,
      files: INITIAL_FILES,
    });
    await seedInitialArtifact(await clients.s3(), BUCKET, prefix, initial.codeSha256);
    const { appRoot } = writeBackendFixture();
    const runtime = testRuntime({
      moto: moto.current,
      appRoot,
      config: { environments: { dev: envConfig(functionName, prefix) } },
    });
    const controller = new AbortController();
    const seen: string[] = [];
    const result = await invokeTool(deployLambdaTool, { env: "dev" }, runtime, {
      signal: controller.signal,
      progress: (message) => {
        seen.push(message);
        // The upload is the last step before the switch.
        if (/^Uploading s3:\/\/|already exists/.test(message)) controller.abort();
      },
    });
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/cancel/i);
    expect(seen.some((m) => m.startsWith("Updating"))).toBe(false);
    expect(
      (await lambda.send(new GetFunctionCommand({ FunctionName: functionName }))).Configuration?.CodeSha256,
    ).toBe(initial.codeSha256);
    const keys = await listKeys(await clients.s3(), BUCKET);
    expect(keys).not.toContain("locks/dev.json");
    const recordKey = keys.find((k) => k.startsWith("releases/dev/lambda/")) as string;
    const record = JSON.parse(
      (await (
        await (await clients.s3()).send(new GetObjectCommand({ Bucket: BUCKET, Key: recordKey }))
      ).Body?.transformToString()) as string,
    );
    expect(record.status).toBe("failed");

    // The next deploy runs normally: nothing was left half-done.
    const again = await invokeTool(deployLambdaTool, { env: "dev" }, runtime);
    expect(again.isError, again.text).toBe(false);
    expect((again.structured as unknown as Out).status).toBe("deployed");
    runtime.close();
  });
});
