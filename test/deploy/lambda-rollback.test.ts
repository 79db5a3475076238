import { GetAliasCommand } from "@aws-sdk/client-lambda";
import { describe, expect, it } from "vitest";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { rollbackTool } from "../../src/tools/rollback.js";
import { commitFixture, writeBackendFixture } from "../support/backend-fixture.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed, testRuntime } from "../support/runtime.js";
import {
  aliasState,
  createAliasedFunction,
  createDeployedFunction,
  liveCodeSha256,
  packageOf,
  readJsonObject,
  useLambdaEnv,
} from "./lambda-support.js";

const moto = useMoto();
const BUCKET = "vyaparai-artifacts-rollback-test";
const { envConfig, runtimeFor } = useLambdaEnv(moto, BUCKET);

interface Out {
  status: string;
  from: string | null;
  to: string | null;
  releaseId?: string;
  version?: string;
  codeSha256?: string;
  plan?: Record<string, unknown>;
  health?: { verdict: string };
}

async function deployOk(runtime: ReturnType<typeof testRuntime>, env: string): Promise<Out> {
  const result = await invokeTool(deployLambdaTool, { env }, runtime);
  expect(result.isError, result.text).toBe(false);
  const out = result.structured as unknown as Out;
  expect(out.status).toBe("deployed");
  return out;
}

/** A protected env's deploy: a passing preflight for HEAD, the plan's token, the confirmed call. */
async function deployConfirmed(runtime: ReturnType<typeof testRuntime>, env: string, appRoot: string) {
  await markPreflightPassed(runtime, commitFixture(appRoot, "release"), ["backend"], env);
  const ask = await invokeTool(deployLambdaTool, { env }, runtime);
  const token = (ask.structured as { confirmationToken?: string }).confirmationToken;
  expect(token, ask.text).toBeTruthy();
  const result = await invokeTool(deployLambdaTool, { env, confirmationToken: token }, runtime);
  expect(result.isError, result.text).toBe(false);
  const out = result.structured as unknown as Out;
  expect(out.status).toBe("deployed");
  return out;
}

describe("rollback of the Lambda without an alias", () => {
  it("puts the previous release's artifact back, verified, and can go to a named release", async () => {
    const functionName = "vyaparai-api-rb-noalias";
    const prefix = "backend/rb-noalias/";
    const clients = moto.current.clients();
    const lambda = await clients.lambda();
    await createDeployedFunction(moto.current, BUCKET, functionName, prefix);
    const { appRoot } = writeBackendFixture({ commit: true });
    const runtime = runtimeFor(appRoot, "dev", functionName, null, prefix);
    const liveSha = () => liveCodeSha256(lambda, functionName);

    const v1 = await packageOf(appRoot);
    const first = await deployOk(runtime, "dev");
    writeBackendFixture({ appRoot, variant: "v2", commit: true });
    const v2 = await packageOf(appRoot);
    const second = await deployOk(runtime, "dev");
    expect(await liveSha()).toBe(v2.codeSha256);

    const dry = await invokeTool(rollbackTool, { env: "dev", component: "lambda", dryRun: true }, runtime);
    expect(dry.structured).toMatchObject({
      status: "planned",
      plan: { mode: "artifact", toReleaseId: first.releaseId, toCodeSha256: v1.codeSha256 },
    });
    expect(await liveSha()).toBe(v2.codeSha256);

    const back = await invokeTool(rollbackTool, { env: "dev", component: "lambda" }, runtime);
    expect(back.isError, back.text).toBe(false);
    const out = back.structured as unknown as Out;
    expect(out.status).toBe("rolled_back");
    expect(out.from).toContain(second.releaseId);
    expect(out.to).toContain(first.releaseId);
    expect(out.health?.verdict).toBe("healthy");
    expect(await liveSha()).toBe(v1.codeSha256);
    // The rollback is a release of its own, naming what it restored.
    const record = await readJsonObject(
      await clients.s3(),
      BUCKET,
      `releases/dev/lambda/${out.releaseId}.json`,
    );
    expect(record).toMatchObject({
      tool: "rollback",
      status: "succeeded",
      restoredFrom: first.releaseId,
      before: { codeSha256: v2.codeSha256 },
      after: { codeSha256: v1.codeSha256 },
    });

    // Rolling back to a named release (the initial one is not recorded, v2 is).
    const named = await invokeTool(
      rollbackTool,
      { env: "dev", component: "lambda", to: second.releaseId },
      runtime,
    );
    expect((named.structured as unknown as Out).status).toBe("rolled_back");
    expect(await liveSha()).toBe(v2.codeSha256);
    // The same target again is a no-op.
    const same = await invokeTool(
      rollbackTool,
      { env: "dev", component: "lambda", to: second.releaseId },
      runtime,
    );
    expect((same.structured as unknown as Out).status).toBe("unchanged");

    const bad = await invokeTool(rollbackTool, { env: "dev", component: "lambda", to: "../../etc" }, runtime);
    expect(bad.isError).toBe(true);
    expect(bad.text).toMatch(/"to" must be a release id .* or a Lambda version number/);
    runtime.close();
  });
});

describe("rollback of the Lambda with an alias", () => {
  it("moves the alias back to the previous version, or to a named version", async () => {
    const functionName = "vyaparai-api-rb-alias";
    const lambda = await moto.current.clients().lambda();
    const v0 = await createAliasedFunction(moto.current, lambda, functionName);
    const { appRoot } = writeBackendFixture({ commit: true });
    const runtime = runtimeFor(appRoot, "staging", functionName, "live", "backend/rb-alias/");
    const live = () => aliasState(lambda, functionName);
    const v1 = await packageOf(appRoot);
    const first = await deployOk(runtime, "staging");
    writeBackendFixture({ appRoot, variant: "v2", commit: true });
    const second = await deployOk(runtime, "staging");
    expect((await live()).version).toBe(second.version);

    const back = await invokeTool(rollbackTool, { env: "staging", component: "lambda" }, runtime);
    expect(back.isError, back.text).toBe(false);
    expect(back.structured).toMatchObject({
      status: "rolled_back",
      plan: { mode: "alias", toVersion: first.version },
    });
    expect(await live()).toEqual({ version: first.version, codeSha256: v1.codeSha256 });

    const toV0 = await invokeTool(
      rollbackTool,
      { env: "staging", component: "lambda", to: v0.Version },
      runtime,
    );
    expect(toV0.isError, toV0.text).toBe(false);
    expect((await live()).version).toBe(v0.Version);
    runtime.close();
  });
});

describe("rollback on a protected env", () => {
  it("returns a plan and a token first, changes nothing, then rolls back with the token", async () => {
    const functionName = "vyaparai-api-rb-prod";
    const lambda = await moto.current.clients().lambda();
    await createAliasedFunction(moto.current, lambda, functionName);
    const { appRoot } = writeBackendFixture({ commit: true });
    // Deploys happen on a twin env pointing at the same function (protected through it).
    const runtime = testRuntime({
      moto: moto.current,
      appRoot,
      config: {
        environments: {
          prod: envConfig(functionName, "live", "backend/rb-prod/"),
          twin: envConfig(functionName, "live", "backend/rb-prod/"),
        },
      },
    });
    const first = await deployConfirmed(runtime, "twin", appRoot);
    writeBackendFixture({ appRoot, variant: "v2" });
    const second = await deployConfirmed(runtime, "twin", appRoot);
    const aliasVersion = async () =>
      (await lambda.send(new GetAliasCommand({ FunctionName: functionName, Name: "live" }))).FunctionVersion;

    // prod has no releases of its own: roll back to a named version.
    const ask = await invokeTool(
      rollbackTool,
      { env: "prod", component: "lambda", to: first.version },
      runtime,
    );
    expect(ask.isError, ask.text).toBe(false);
    const asked = ask.structured as unknown as Out & { confirmationToken: string };
    expect(asked.status).toBe("confirmation_required");
    expect(asked.confirmationToken).toBeTruthy();
    expect(await aliasVersion()).toBe(second.version);

    const done = await invokeTool(
      rollbackTool,
      { env: "prod", component: "lambda", to: first.version, confirmationToken: asked.confirmationToken },
      runtime,
    );
    expect(done.isError, done.text).toBe(false);
    expect((done.structured as unknown as Out).status).toBe("rolled_back");
    expect(await aliasVersion()).toBe(first.version);

    // The token was single-use.
    const reuse = await invokeTool(
      rollbackTool,
      { env: "prod", component: "lambda", to: second.version, confirmationToken: asked.confirmationToken },
      runtime,
    );
    expect(reuse.isError).toBe(true);
    expect(await aliasVersion()).toBe(first.version);
    runtime.close();
  });
});
