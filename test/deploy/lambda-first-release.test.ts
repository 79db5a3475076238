import { createHash } from "node:crypto";
import { GetFunctionCommand, GetFunctionConfigurationCommand } from "@aws-sdk/client-lambda";
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactKeyForCodeSha256 } from "../../src/deploy/lambda/artifact.js";
import type { CodeDownloader } from "../../src/deploy/lambda/deps.js";
import { invokeTool } from "../../src/server/invoke.js";
import type { Runtime } from "../../src/server/runtime.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { deployStatusTool } from "../../src/tools/deploy-status.js";
import { type DeployLambdaOutput, deployLambda } from "../../src/tools/flows/deploy-lambda.js";
import { rollbackTool } from "../../src/tools/rollback.js";
import { createBucket, createTestFunction } from "../support/aws-fixtures.js";
import { commitFixture, writeBackendFixture } from "../support/backend-fixture.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed, testRuntime, toolContextFor } from "../support/runtime.js";
import {
  aliasState,
  createAliasedFunction,
  createFunctionFromS3,
  INITIAL_FILES,
  liveCodeSha256,
  packageOf,
  readJsonObject,
  startCodeServer,
  useLambdaEnv,
} from "./lambda-support.js";

/**
 * The first release made by this tool has a way back: the code live before it. Alias mode
 * points the alias back at the version it served; $LATEST mode needs that code saved in the
 * artifact bucket first, downloaded from Lambda during the deploy.
 */

const moto = useMoto();
const BUCKET = "vyaparai-artifacts-first-release";
const SEED_BUCKET = "vyaparai-hand-deploys";
const lambdaEnv = useLambdaEnv(moto, BUCKET);
let codeServer: Awaited<ReturnType<typeof startCodeServer>>;

beforeAll(async () => {
  codeServer = await startCodeServer();
  await createBucket(await moto.current.clients().s3(), SEED_BUCKET);
});
afterAll(async () => {
  await codeServer?.close();
});

interface RollbackOut {
  status: string;
  from: string | null;
  to: string | null;
  releaseId?: string;
  confirmationToken?: string;
  plan?: Record<string, unknown>;
}

/** deploy_lambda as the tool runs it, with the code download pointed at the local server. */
async function deployWith(
  runtime: Runtime,
  envName: string,
  downloadCode: CodeDownloader,
  request: { dryRun?: boolean; confirmationToken?: string } = {},
): Promise<DeployLambdaOutput> {
  return deployLambda(
    toolContextFor(runtime, { envName, toolName: "deploy_lambda" }),
    {
      dryRun: request.dryRun ?? false,
      force: false,
      breakLock: false,
      confirmationToken: request.confirmationToken,
    },
    { downloadCode, healthIntervalMs: 50 },
  );
}

/**
 * A function made by hand from a zip in S3 before this tool (s3://SEED_BUCKET/seedKey), whose
 * code location the code server answers with its zip (or with `served`), and the app to deploy.
 */
async function seedHandMade(functionName: string, seedKey: string, served?: Buffer) {
  const initial = await createFunctionFromS3(moto.current, functionName, {
    bucket: SEED_BUCKET,
    key: seedKey,
  });
  codeServer.serve(seedKey, served ?? initial.zip);
  const { appRoot } = writeBackendFixture({ commit: true });
  return { initial, appRoot, lambda: await moto.current.clients().lambda() };
}

async function s3Object(key: string) {
  const s3 = await moto.current.clients().s3();
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(
    await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

async function exists(key: string): Promise<boolean> {
  try {
    await (await moto.current.clients().s3()).send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch {
    return false;
  }
}

describe("the first release with an alias", () => {
  it("rolls back (dry run, token, confirmed) to the version the alias served before it", async () => {
    const functionName = "vyaparai-api-first-alias";
    const lambda = await moto.current.clients().lambda();
    const v0 = await createAliasedFunction(moto.current, lambda, functionName);
    const { appRoot } = writeBackendFixture({ commit: true });
    const runtime = testRuntime({
      moto: moto.current,
      appRoot,
      config: { environments: { prod: lambdaEnv.envConfig(functionName, "live", "backend/first-alias/") } },
    });
    const v1 = await packageOf(appRoot);

    await markPreflightPassed(runtime, commitFixture(appRoot, "release"), ["backend"], "prod");
    const ask = await invokeTool(deployLambdaTool, { env: "prod" }, runtime);
    const token = (ask.structured as { confirmationToken?: string }).confirmationToken;
    expect(token, ask.text).toBeTruthy();
    const deployed = await invokeTool(deployLambdaTool, { env: "prod", confirmationToken: token }, runtime);
    expect(deployed.isError, deployed.text).toBe(false);
    const out = deployed.structured as unknown as DeployLambdaOutput;
    expect(out).toMatchObject({
      status: "deployed",
      previousVersion: v0.Version,
      previousCodeSha256: v0.CodeSha256,
      previousRelease: null,
    });
    expect(out.summary).toContain(`as version ${out.version}`);
    expect(out.summary).toContain(`puts back version ${v0.Version}, live before this release`);
    expect(await aliasState(lambda, functionName)).toEqual({
      version: out.version,
      codeSha256: v1.codeSha256,
    });

    const dry = await invokeTool(rollbackTool, { env: "prod", component: "lambda", dryRun: true }, runtime);
    expect(dry.isError, dry.text).toBe(false);
    expect(dry.structured).toMatchObject({
      status: "planned",
      to: `version ${v0.Version}, live before release ${out.releaseId}`,
      plan: {
        mode: "alias",
        toReleaseId: null,
        toLiveBefore: out.releaseId,
        toVersion: v0.Version,
        toCodeSha256: v0.CodeSha256,
      },
    });

    const asked = await invokeTool(rollbackTool, { env: "prod", component: "lambda" }, runtime);
    const askedOut = asked.structured as unknown as RollbackOut;
    expect(askedOut.status).toBe("confirmation_required");
    // Nothing moved before the person confirmed.
    expect((await aliasState(lambda, functionName)).version).toBe(out.version);

    const done = await invokeTool(
      rollbackTool,
      { env: "prod", component: "lambda", confirmationToken: askedOut.confirmationToken },
      runtime,
    );
    expect(done.isError, done.text).toBe(false);
    const doneOut = done.structured as unknown as RollbackOut;
    expect(doneOut.status).toBe("rolled_back");
    // Read back: the alias is on the pre-release version, which runs the pre-release code.
    expect(await aliasState(lambda, functionName)).toEqual({
      version: v0.Version,
      codeSha256: v0.CodeSha256,
    });
    const viaAlias = await lambda.send(
      new GetFunctionCommand({ FunctionName: functionName, Qualifier: "live" }),
    );
    expect(viaAlias.Configuration?.CodeSha256).toBe(v0.CodeSha256);
    const record = await readJsonObject(
      await moto.current.clients().s3(),
      BUCKET,
      `releases/prod/lambda/${doneOut.releaseId}.json`,
    );
    expect(record).toMatchObject({
      tool: "rollback",
      status: "succeeded",
      restoredFrom: `before ${out.releaseId}`,
      after: { version: v0.Version, codeSha256: v0.CodeSha256 },
    });

    // Rolling back again goes forward to the first release: the rollback is a release too.
    const again = await invokeTool(rollbackTool, { env: "prod", component: "lambda", dryRun: true }, runtime);
    expect(again.structured).toMatchObject({ plan: { toReleaseId: out.releaseId, toVersion: out.version } });
    runtime.close();
  });
});

describe("the first release without an alias ($LATEST)", () => {
  it("saves the code live before it, verified, and a rollback without `to` puts it back", async () => {
    const functionName = "vyaparai-api-first-latest";
    const prefix = "backend/first-latest/";
    const seedKey = "by-hand/vyaparai-api.zip";
    const { initial, appRoot, lambda } = await seedHandMade(functionName, seedKey);
    // The seam's premise: moto offers the S3 key's path as the code location.
    const offered = await lambda.send(new GetFunctionCommand({ FunctionName: functionName }));
    expect(new URL(offered.Code?.Location as string).pathname).toBe(`/${seedKey}`);
    expect(initial.codeSha256).toBe(createHash("sha256").update(initial.zip).digest("base64"));

    const runtime = lambdaEnv.runtimeFor(appRoot, "latest", functionName, null, prefix);
    const savedKey = artifactKeyForCodeSha256(prefix, initial.codeSha256);
    const v1 = await packageOf(appRoot);

    const planned = await deployWith(runtime, "latest", codeServer.downloader, { dryRun: true });
    expect(planned.status).toBe("planned");
    expect(planned.summary).toContain(`save the code live now from Lambda to s3://${BUCKET}/${savedKey}`);
    expect(planned.warnings).toBeUndefined();
    expect(planned.plan.rollback).toEqual({ mode: "artifact", artifactKey: savedKey, saveFromLambda: true });
    expect(await exists(savedKey)).toBe(false);

    const out = await deployWith(runtime, "latest", codeServer.downloader);
    expect(out.status, out.summary).toBe("deployed");
    expect(out).toMatchObject({
      previousVersion: null,
      previousCodeSha256: initial.codeSha256,
      previousRelease: null,
    });
    expect(out.warnings).toBeUndefined();
    expect(out.summary).toContain("the code is live on $LATEST");
    expect(out.summary).toContain(`published as version ${out.version} for the record`);
    expect(out.summary).not.toContain("($LATEST) as version");
    expect(out.summary).not.toContain("version $LATEST");
    expect(await liveCodeSha256(lambda, functionName)).toBe(v1.codeSha256);
    // The pre-release zip is in the artifact bucket at its content address, byte for byte.
    const saved = await s3Object(savedKey);
    expect(saved.equals(initial.zip)).toBe(true);
    expect(createHash("sha256").update(saved).digest("base64")).toBe(initial.codeSha256);
    const head = await (await moto.current.clients().s3()).send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: savedKey, ChecksumMode: "ENABLED" }),
    );
    expect(head.ChecksumSHA256).toBe(initial.codeSha256);
    const record = await readJsonObject(
      await moto.current.clients().s3(),
      BUCKET,
      `releases/latest/lambda/${out.releaseId}.json`,
    );
    expect(record).toMatchObject({
      before: { version: "$LATEST", codeSha256: initial.codeSha256, artifactKey: savedKey },
      recoveryFacts: { previous: { codeSha256: initial.codeSha256, artifactKey: savedKey } },
    });

    // deploy_status says what $LATEST runs, not "version $LATEST".
    const status = await invokeTool(deployStatusTool, { env: "latest" }, runtime);
    const statusSummary = (status.structured as { summary: string }).summary;
    expect(statusSummary).toContain(`$LATEST (code of version ${out.version}, CodeSha256 ${v1.codeSha256})`);
    expect(statusSummary).not.toContain("version $LATEST");

    const dry = await invokeTool(rollbackTool, { env: "latest", component: "lambda", dryRun: true }, runtime);
    expect(dry.isError, dry.text).toBe(false);
    expect(dry.structured).toMatchObject({
      status: "planned",
      from: `${out.releaseId} ($LATEST, CodeSha256 ${v1.codeSha256})`,
      to: `the code live before release ${out.releaseId} (CodeSha256 ${initial.codeSha256})`,
      plan: {
        mode: "artifact",
        toLiveBefore: out.releaseId,
        toCodeSha256: initial.codeSha256,
        artifactKey: savedKey,
      },
    });
    expect(await liveCodeSha256(lambda, functionName)).toBe(v1.codeSha256);

    const back = await invokeTool(rollbackTool, { env: "latest", component: "lambda" }, runtime);
    expect(back.isError, back.text).toBe(false);
    expect((back.structured as unknown as RollbackOut).status).toBe("rolled_back");
    // Read back: $LATEST runs the pre-release code again.
    expect(await liveCodeSha256(lambda, functionName)).toBe(initial.codeSha256);
    runtime.close();
  });

  it("a first release that fails its health gate is undone from the saved code", async () => {
    const functionName = "vyaparai-api-first-undo";
    const prefix = "backend/first-undo/";
    const { initial, appRoot, lambda } = await seedHandMade(functionName, "by-hand/undo.zip");
    const runtime = lambdaEnv.runtimeFor(appRoot, "undo", functionName, null, prefix);

    lambdaEnv.health.healthy = false;
    const out = await deployWith(runtime, "undo", codeServer.downloader).finally(() => {
      lambdaEnv.health.healthy = true;
    });
    expect(out.status, out.summary).toBe("rolled_back");
    expect(out.undo).toMatchObject({ ok: true, result: "undone" });
    expect(await liveCodeSha256(lambda, functionName)).toBe(initial.codeSha256);
    runtime.close();
  });

  it("a protected env: the confirmed deploy saves the code, the confirmed rollback puts it back", async () => {
    const functionName = "vyaparai-api-first-prod";
    const prefix = "backend/first-prod/";
    const { initial, appRoot, lambda } = await seedHandMade(functionName, "by-hand/prod.zip");
    // Its own protected env: release records are kept per env, and "prod" here has the alias test's.
    const runtime = testRuntime({
      moto: moto.current,
      appRoot,
      config: {
        environments: { shop: { ...lambdaEnv.envConfig(functionName, null, prefix), protected: true } },
      },
    });
    await markPreflightPassed(runtime, commitFixture(appRoot, "release"), ["backend"], "shop");
    const ask = await deployWith(runtime, "shop", codeServer.downloader);
    expect(ask.status).toBe("confirmation_required");
    expect(ask.previousVersion).toBeNull();
    const out = await deployWith(runtime, "shop", codeServer.downloader, {
      confirmationToken: ask.confirmationToken as string,
    });
    expect(out.status, out.summary).toBe("deployed");

    const asked = await invokeTool(rollbackTool, { env: "shop", component: "lambda" }, runtime);
    const askedOut = asked.structured as unknown as RollbackOut;
    expect(askedOut.status, asked.text).toBe("confirmation_required");
    expect(askedOut.to).toBe(
      `the code live before release ${out.releaseId} (CodeSha256 ${initial.codeSha256})`,
    );
    expect(await liveCodeSha256(lambda, functionName)).toBe(out.codeSha256);
    const done = await invokeTool(
      rollbackTool,
      { env: "shop", component: "lambda", confirmationToken: askedOut.confirmationToken },
      runtime,
    );
    expect(done.isError, done.text).toBe(false);
    expect(await liveCodeSha256(lambda, functionName)).toBe(initial.codeSha256);
    runtime.close();
  });
});

describe("a first $LATEST release whose previous code cannot be downloaded", () => {
  it("deploys with a warning; the rollback refuses, naming the missing artifact", async () => {
    const functionName = "vyaparai-api-first-nodl";
    const prefix = "backend/first-nodl/";
    // Lambda's URL answers with other bytes than the live code: they are not kept.
    const { initial, appRoot, lambda } = await seedHandMade(
      functionName,
      "by-hand/nodl.zip",
      Buffer.from("not the code"),
    );
    const runtime = lambdaEnv.runtimeFor(appRoot, "nodl", functionName, null, prefix);
    const savedKey = artifactKeyForCodeSha256(prefix, initial.codeSha256);

    const out = await deployWith(runtime, "nodl", codeServer.downloader);
    expect(out.status, out.summary).toBe("deployed");
    expect(out).toMatchObject({ previousVersion: null, previousCodeSha256: initial.codeSha256 });
    expect(out.warnings).toHaveLength(1);
    expect(out.warnings?.[0]).toMatch(
      new RegExp(
        `was not saved at s3://${BUCKET}/${savedKey}: the .* downloaded from Lambda hash to .*, not its CodeSha256\\. Neither a rollback nor the automatic undo can put it back`,
      ),
    );
    expect(out.summary).toContain("there is no way back to it (see warnings)");
    expect(await exists(savedKey)).toBe(false);
    const record = await readJsonObject(
      await moto.current.clients().s3(),
      BUCKET,
      `releases/nodl/lambda/${out.releaseId}.json`,
    );
    expect(record.recoveryFacts.previous.artifactKey).toBeNull();
    expect(record.warnings).toEqual(out.warnings);

    const refused = await invokeTool(rollbackTool, { env: "nodl", component: "lambda" }, runtime);
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain("PRECONDITION");
    expect(refused.text).toContain(
      `The code live before release ${out.releaseId} (CodeSha256 ${initial.codeSha256}) was never saved: s3://${BUCKET}/${savedKey} is missing`,
    );
    expect(await liveCodeSha256(lambda, functionName)).toBe(out.codeSha256);
    runtime.close();
  });

  it("an HTTP error is the same warning, not a failed deploy", async () => {
    const functionName = "vyaparai-api-first-403";
    const { appRoot } = await seedHandMade(functionName, "by-hand/403.zip");
    const runtime = lambdaEnv.runtimeFor(appRoot, "http", functionName, null, "backend/first-403/");
    codeServer.status = 403;
    const out = await deployWith(runtime, "http", codeServer.downloader).finally(() => {
      codeServer.status = 200;
    });
    expect(out.status, out.summary).toBe("deployed");
    expect(out.warnings?.[0]).toMatch(/downloading it from Lambda failed \(HTTP 403\)/);
    runtime.close();
  });

  it("a function whose GetFunction offers no code location is named in the plan before approval", async () => {
    const functionName = "vyaparai-api-first-noloc";
    const prefix = "backend/first-noloc/";
    const lambda = await moto.current.clients().lambda();
    const initial = await createTestFunction(moto.current, lambda, {
      name: functionName,
      files: INITIAL_FILES,
    });
    const { appRoot } = writeBackendFixture({ commit: true });
    const runtime = lambdaEnv.runtimeFor(appRoot, "noloc", functionName, null, prefix);
    // A fault moto cannot produce (it always offers a location): GetFunction without Code.Location.
    (await runtime.clientsFor("noloc").lambda()).middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if ((context as { commandName?: string }).commandName === "GetFunctionCommand") {
          const output = result.output as { Code?: { Location?: string } };
          if (output.Code) delete output.Code.Location;
        }
        return result;
      },
      { step: "initialize", name: "dropCodeLocation" },
    );
    const savedKey = artifactKeyForCodeSha256(prefix, initial.codeSha256);

    const planned = await invokeTool(deployLambdaTool, { env: "noloc", dryRun: true }, runtime);
    expect(planned.isError, planned.text).toBe(false);
    const out = planned.structured as unknown as DeployLambdaOutput;
    expect(out.warnings?.[0]).toContain(
      `The code live now (CodeSha256 ${initial.codeSha256}) cannot be saved at s3://${BUCKET}/${savedKey} before it is replaced: Lambda's GetFunction offers no download location for it. After this deploy neither a rollback nor the automatic undo could put it back.`,
    );
    expect(out.summary).toContain("Warning: The code live now");
    expect(out.previousVersion).toBeNull();

    // The deploy itself goes on, and says again what it could not keep.
    const deployed = await invokeTool(deployLambdaTool, { env: "noloc" }, runtime);
    expect(deployed.isError, deployed.text).toBe(false);
    const done = deployed.structured as unknown as DeployLambdaOutput;
    expect(done.status).toBe("deployed");
    expect(done.warnings?.[0]).toContain("was not saved at");
    expect(await exists(savedKey)).toBe(false);
    const config = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
    expect(config.CodeSha256).toBe(done.codeSha256);
    runtime.close();
  });
});
