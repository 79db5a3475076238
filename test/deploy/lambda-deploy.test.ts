import { GetFunctionConfigurationCommand } from "@aws-sdk/client-lambda";
import { describe, expect, it } from "vitest";
import { artifactKeyFor } from "../../src/deploy/lambda/artifact.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { createTestFunction } from "../support/aws-fixtures.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { powertoolsLine, seedLogEvents } from "../support/log-seeder.js";
import { useMoto } from "../support/moto.js";
import {
  aliasState,
  countCommands,
  createAliasedFunction,
  INITIAL_FILES,
  listKeys,
  liveCodeSha256,
  packageOf,
  readJsonObject,
  seedInitialArtifact,
  useLambdaEnv,
} from "./lambda-support.js";

const moto = useMoto();
const BUCKET = "vyaparai-artifacts-deploy-test";
const env = useLambdaEnv(moto, BUCKET);

interface DeployOut {
  status: string;
  codeSha256: string;
  version?: string;
  previousVersion?: string | null;
  releaseId?: string;
  failure?: string;
  plan: Record<string, unknown>;
  health?: { verdict: string };
}

describe("deploy_lambda without an alias ($LATEST)", () => {
  const functionName = "vyaparai-api-noalias";
  const prefix = "backend/noalias/";

  it("deploys, is a no-op the second time, and rolls back a failing release", async () => {
    const clients = moto.current.clients();
    const lambda = await clients.lambda();
    const s3 = await clients.s3();
    const initial = await createTestFunction(moto.current, lambda, {
      name: functionName,
      files: INITIAL_FILES,
    });
    const { appRoot } = writeBackendFixture({ commit: true });
    const runtime = env.runtimeFor(appRoot, "dev", functionName, null, prefix);
    const liveSha = () => liveCodeSha256(lambda, functionName);

    // No saved copy of the code live today: the plan keeps it from Lambda first (the download
    // itself is tested in lambda-first-release.test.ts, against a real HTTP server).
    const keeping = await invokeTool(deployLambdaTool, { env: "dev", dryRun: true }, runtime);
    expect(keeping.structured).toMatchObject({
      status: "planned",
      previousVersion: null,
      previousCodeSha256: initial.codeSha256,
      previousRelease: null,
      plan: { rollback: { mode: "artifact", saveFromLambda: true } },
    });
    expect((keeping.structured as { summary: string }).summary).toContain(
      "save the code live now from Lambda",
    );
    expect(await liveSha()).toBe(initial.codeSha256);

    await seedInitialArtifact(s3, BUCKET, prefix, initial.codeSha256);
    const v1 = await packageOf(appRoot);
    const first = await invokeTool(deployLambdaTool, { env: "dev" }, runtime);
    expect(first.isError, first.text).toBe(false);
    const out1 = first.structured as unknown as DeployOut;
    expect(out1.status).toBe("deployed");
    expect(out1.codeSha256).toBe(v1.codeSha256);
    expect(await liveSha()).toBe(v1.codeSha256);
    // The published version holds the new code and names the release.
    const published = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName, Qualifier: out1.version }),
    );
    expect(published.CodeSha256).toBe(v1.codeSha256);
    expect(published.Description).toContain(out1.releaseId);
    // The artifact is content-addressed, and the release record says what happened.
    expect(await listKeys(s3, BUCKET)).toContain(artifactKeyFor(prefix, v1.sha256Hex));
    const record = await readJsonObject(s3, BUCKET, `releases/dev/lambda/${out1.releaseId}.json`);
    expect(record).toMatchObject({
      status: "succeeded",
      tool: "deploy_lambda",
      artifacts: { artifactKey: artifactKeyFor(prefix, v1.sha256Hex), codeSha256: v1.codeSha256 },
      before: { codeSha256: initial.codeSha256, version: "$LATEST" },
      after: { codeSha256: v1.codeSha256, version: out1.version },
    });
    expect(record.manifest["app/main.py"]).toBe(v1.entries.find((e) => e.name === "app/main.py")?.sha256);

    // Same tree again: nothing uploaded, nothing updated.
    const s3Counts = countCommands(await runtime.clientsFor("dev").s3());
    const lambdaCounts = countCommands(await runtime.clientsFor("dev").lambda());
    const keysBefore = await listKeys(s3, BUCKET);
    const lastModified = (
      await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }))
    ).LastModified;
    const second = await invokeTool(deployLambdaTool, { env: "dev" }, runtime);
    expect((second.structured as unknown as DeployOut).status).toBe("unchanged");
    expect(s3Counts.get("PutObjectCommand") ?? 0).toBe(0);
    expect(s3Counts.get("CreateMultipartUploadCommand") ?? 0).toBe(0);
    expect(lambdaCounts.get("UpdateFunctionCodeCommand") ?? 0).toBe(0);
    expect(lambdaCounts.get("PublishVersionCommand") ?? 0).toBe(0);
    expect(await listKeys(s3, BUCKET)).toEqual(keysBefore);
    expect(
      (await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }))).LastModified,
    ).toBe(lastModified);

    // A dry run of a changed tree plans the file changes and changes nothing.
    writeBackendFixture({ appRoot, variant: "v2", commit: true });
    const v2 = await packageOf(appRoot);
    const planned = await invokeTool(deployLambdaTool, { env: "dev", dryRun: true }, runtime);
    const plannedOut = planned.structured as unknown as DeployOut;
    expect(plannedOut.status).toBe("planned");
    expect(plannedOut.plan).toMatchObject({
      codeSha256: v2.codeSha256,
      fromCodeSha256: v1.codeSha256,
      fileChanges: { added: 0, removed: 0, changed: 1, comparedWith: out1.releaseId },
      changed: ["lambda_handler.py"],
      uploadNeeded: true,
    });
    expect(await liveSha()).toBe(v1.codeSha256);

    // A failing health gate puts the previous code back.
    env.health.healthy = false;
    const failing = await invokeTool(deployLambdaTool, { env: "dev" }, runtime);
    env.health.healthy = true;
    // A release that did not stay live is an error result, with its full structured output.
    expect(failing.isError, failing.text).toBe(true);
    const failed = failing.structured as unknown as DeployOut;
    expect(failed.status).toBe("rolled_back");
    expect(failed.failure).toMatch(/health gate failed: api HTTP 503/);
    expect(failed.health?.verdict).toBe("unhealthy");
    expect(await liveSha()).toBe(v1.codeSha256);
    runtime.close();
  });
});

describe("deploy_lambda with an alias", () => {
  const functionName = "vyaparai-api-alias";
  const prefix = "backend/alias/";

  it("moves the alias to a new version and back when the health gate fails", async () => {
    const lambda = await moto.current.clients().lambda();
    const v0 = await createAliasedFunction(moto.current, lambda, functionName);
    const { appRoot } = writeBackendFixture({ commit: true });
    const runtime = env.runtimeFor(appRoot, "staging", functionName, "live", prefix);
    const live = () => aliasState(lambda, functionName);

    const v1 = await packageOf(appRoot);
    const first = await invokeTool(deployLambdaTool, { env: "staging" }, runtime);
    expect(first.isError, first.text).toBe(false);
    const out1 = first.structured as unknown as DeployOut;
    expect(out1).toMatchObject({ status: "deployed", previousVersion: v0.Version });
    expect(await live()).toEqual({ version: out1.version, codeSha256: v1.codeSha256 });

    const again = await invokeTool(deployLambdaTool, { env: "staging" }, runtime);
    expect((again.structured as unknown as DeployOut).status).toBe("unchanged");

    writeBackendFixture({ appRoot, variant: "v2", commit: true });
    env.health.healthy = false;
    // The new code logs an error while the gate runs; the rolled-back answer must carry it.
    let seeding: Promise<void> | undefined;
    const logs = await moto.current.clients().logs();
    const failing = await invokeTool(deployLambdaTool, { env: "staging" }, runtime, {
      progress: (message) => {
        if (message.startsWith("Publishing") && !seeding) {
          seeding = seedLogEvents(logs, `/aws/lambda/${functionName}`, "2026/11/25/[2]abc", [
            {
              timestamp: Date.now(),
              message: powertoolsLine({ level: "INFO", message: "ok", requestId: "r-1" }),
            },
            {
              timestamp: Date.now(),
              message: powertoolsLine({ level: "ERROR", message: "KeyError: 'store_id'", requestId: "r-2" }),
            },
          ]);
        }
      },
    });
    await seeding;
    env.health.healthy = true;
    const failed = failing.structured as unknown as DeployOut & {
      errorLogs?: Array<{ level: string; message: string; requestId: string | null }>;
    };
    expect(failed.status).toBe("rolled_back");
    expect(failed.errorLogs?.map((e) => [e.level, e.requestId])).toEqual([["ERROR", "r-2"]]);
    expect(failed.errorLogs?.[0]?.message).toContain("KeyError");
    expect(failed.version).not.toBe(out1.version);
    // Safety: the alias never stays on the version that failed its gate.
    expect(await live()).toEqual({ version: out1.version, codeSha256: v1.codeSha256 });
    runtime.close();
  });
});
