import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import { writeBackendFixture } from "../support/backend-fixture.js";
import { createGitRepo } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed } from "../support/runtime.js";
import {
  createDeployedFunction,
  listKeys,
  liveCodeSha256,
  packageOf,
  readJsonObject,
  useLambdaEnv,
} from "./lambda-support.js";

const moto = useMoto();
const BUCKET = "vyaparai-artifacts-guarded-test";
const env = useLambdaEnv(moto, BUCKET);

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
    const initial = await createDeployedFunction(moto.current, BUCKET, functionName, prefix);
    // Build output in an ignored dependency folder: packaged, never committed.
    const repo = createGitRepo({ files: { ".gitignore": "backend/lambda_deps/generated/\n" } });
    writeBackendFixture({ appRoot: repo.dir });
    const runtime = env.runtimeFor(repo.dir, "prod", functionName, null, prefix);
    const head = repo.commitAll("backend");
    const liveSha = () => liveCodeSha256(lambda, functionName);
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

    await markPreflightPassed(runtime, head, ["backend"]);

    // Build output that changed after the tests ran: same HEAD, clean git status, another tree.
    repo.write("backend/lambda_deps/generated/late.py", "CHANGED_AFTER_TESTS = True\n");
    expect(repo.git("status", "--porcelain")).toBe("");
    const askLate = await invokeTool(deployLambdaTool, { env: "prod" }, runtime);
    const lateToken = (askLate.structured as unknown as Out).confirmationToken;
    const late = await invokeTool(deployLambdaTool, { env: "prod", confirmationToken: lateToken }, runtime);
    expect(late.isError).toBe(true);
    expect(late.structured).toMatchObject({ reason: "preflight_other_tree" });
    expect(late.text).toMatch(/differ from the ones preflight .* tested/);
    expect(await liveSha()).toBe(initial.codeSha256);
    expect(await listKeys(await clients.s3(), BUCKET)).toEqual(keysBefore);
    rmSync(join(repo.dir, "backend/lambda_deps/generated"), { recursive: true });

    const ask2 = await invokeTool(deployLambdaTool, { env: "prod" }, runtime);
    const token = (ask2.structured as unknown as Out).confirmationToken;
    const expected = await packageOf(repo.dir);
    const done = await invokeTool(deployLambdaTool, { env: "prod", confirmationToken: token }, runtime);
    expect(done.isError, done.text).toBe(false);
    const out = done.structured as unknown as Out;
    expect(out.status).toBe("deployed");
    expect(await liveSha()).toBe(expected.codeSha256);
    const record = await readJsonObject(
      await clients.s3(),
      BUCKET,
      `releases/prod/lambda/${out.releaseId}.json`,
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
    const initial = await createDeployedFunction(moto.current, BUCKET, functionName, prefix);
    const { appRoot } = writeBackendFixture({ commit: true });
    const runtime = env.runtimeFor(appRoot, "dev", functionName, null, prefix);
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
    expect(await liveCodeSha256(lambda, functionName)).toBe(initial.codeSha256);
    const keys = await listKeys(await clients.s3(), BUCKET);
    expect(keys).not.toContain("locks/dev.json");
    const recordKey = keys.find((k) => k.startsWith("releases/dev/lambda/")) as string;
    const record = await readJsonObject(await clients.s3(), BUCKET, recordKey);
    expect(record.status).toBe("failed");

    // The next deploy runs normally: nothing was left half-done.
    const again = await invokeTool(deployLambdaTool, { env: "dev" }, runtime);
    expect(again.isError, again.text).toBe(false);
    expect((again.structured as unknown as Out).status).toBe("deployed");
    runtime.close();
  });
});
