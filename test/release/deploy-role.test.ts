import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CodeAnswer, CodeRequest } from "../../src/core/context.js";
import { invokeTool } from "../../src/server/invoke.js";
import { deployLambdaTool } from "../../src/tools/deploy-lambda.js";
import {
  createDeployedFunction,
  listKeys,
  liveCodeSha256,
  readJsonObject,
  useLambdaEnv,
} from "../deploy/lambda-support.js";
import { createLambdaRole } from "../support/aws-fixtures.js";
import { commitFixture, writeBackendFixture } from "../support/backend-fixture.js";
import { useFaultProxy } from "../support/fault-proxy.js";
import { useMoto } from "../support/moto.js";
import { markPreflightPassed, testRuntime } from "../support/runtime.js";
import { BUILT_CLI } from "../support/stdio.js";

/**
 * A protected deploy with a deploy role and an MFA device: the code comes from the person
 * (here the test's elicitation answer), reaches STS once (seen at a proxy in front of moto),
 * the mutations carry the assumed credentials, and the code is nowhere afterwards.
 */
const moto = useMoto();
const proxy = useFaultProxy(moto);
const BUCKET = "vyaparai-artifacts-deploy-role";
const lambdaEnv = useLambdaEnv(moto, BUCKET);
const CODE = "914275";
const MFA_SERIAL = "arn:aws:iam::123456789012:mfa/priya";

interface Out {
  status: string;
  confirmationToken?: string;
  releaseId?: string;
  codeSha256?: string;
}

async function setUp(name: string, options: { mfa?: boolean } = {}) {
  const functionName = `vyaparai-api-${name}`;
  const prefix = `backend/${name}/`;
  const initial = await createDeployedFunction(moto.current, BUCKET, functionName, prefix);
  const roleArn = await createLambdaRole(moto.current);
  const { appRoot } = writeBackendFixture();
  const runtime = testRuntime({
    moto: moto.current,
    endpoint: proxy.current.endpoint,
    appRoot,
    config: {
      environments: {
        prod: {
          ...lambdaEnv.envConfig(functionName, null, prefix),
          deployRole: { roleArn, mfaSerial: options.mfa === false ? null : MFA_SERIAL },
        },
      },
    },
  });
  // The config testRuntime wrote is part of the committed tree.
  const head = commitFixture(appRoot);
  await markPreflightPassed(runtime, head, ["backend"]);
  const lambda = await moto.current.clients().lambda();
  return {
    functionName,
    initial,
    roleArn,
    appRoot,
    runtime,
    live: () => liveCodeSha256(lambda, functionName),
  };
}

async function tokenFor(runtime: ReturnType<typeof testRuntime>): Promise<string> {
  const planned = await invokeTool(deployLambdaTool, { env: "prod" }, runtime);
  const out = planned.structured as unknown as Out;
  expect(out.status, planned.text).toBe("confirmation_required");
  return out.confirmationToken as string;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

describe("deploy role with MFA", () => {
  it("asks the person for the code, assumes the role with it, deploys as the role, and keeps the code nowhere", async () => {
    const { initial, roleArn, appRoot, runtime, live } = await setUp("role-mfa");
    const assumeBefore = proxy.current.count({ service: "sts", operation: "AssumeRole" });
    const token = await tokenFor(runtime);
    // Planning ran with the caller's own credentials: no role, no code asked.
    expect(proxy.current.count({ service: "sts", operation: "AssumeRole" })).toBe(assumeBefore);

    const asked: CodeRequest[] = [];
    const seen: string[] = [];
    const done = await invokeTool(deployLambdaTool, { env: "prod", confirmationToken: token }, runtime, {
      askCode: async (request): Promise<CodeAnswer> => {
        asked.push(request);
        return { action: "accept", code: CODE };
      },
      askPerson: async () => "accept",
      progress: (message) => seen.push(message),
      log: (_level, message) => seen.push(message),
    });
    expect(done.isError, done.text).toBe(false);
    const out = done.structured as unknown as Out;
    expect(out.status).toBe("deployed");
    expect(asked).toHaveLength(1);
    expect(asked[0]?.message).toContain(MFA_SERIAL);
    expect(await live()).not.toBe(initial.codeSha256);

    // What STS was sent: the device, the person's code and who they are.
    const assumeRole = {
      service: "sts",
      operation: "AssumeRole",
      bodyIncludes: `SerialNumber=${encodeURIComponent(MFA_SERIAL)}`,
    };
    expect(proxy.current.count(assumeRole)).toBe(1);
    expect(proxy.current.count({ ...assumeRole, bodyIncludes: `TokenCode=${CODE}` })).toBe(1);
    expect(proxy.current.count({ ...assumeRole, bodyIncludes: "SourceIdentity=" })).toBe(1);
    expect(proxy.current.count({ ...assumeRole, bodyIncludes: `RoleSessionName=${out.releaseId}` })).toBe(1);
    // The code change itself was signed with the role's credentials, not the caller's ("testing").
    expect(proxy.current.count({ service: "lambda", operation: "UpdateFunctionCode" })).toBeGreaterThan(0);
    expect(
      proxy.current.count({
        service: "lambda",
        operation: "UpdateFunctionCode",
        header: { authorization: /Credential=testing\// },
      }),
    ).toBe(0);

    // The record names the assumed role, the session and the device.
    const record = await readJsonObject(
      await moto.current.clients().s3(),
      BUCKET,
      `releases/prod/lambda/${out.releaseId}.json`,
    );
    expect(String(record.who)).toMatch(/:assumed-role\//);
    expect(String(record.who)).toContain(out.releaseId as string);
    expect(record.deployRole).toEqual({
      roleArn,
      sessionName: out.releaseId,
      sourceIdentity: expect.any(String),
      mfaSerial: MFA_SERIAL,
    });

    // The code is in no output, message, record or file.
    const s3 = await moto.current.clients().s3();
    const objects = await Promise.all(
      (await listKeys(s3, BUCKET))
        .filter((key) => key.endsWith(".json"))
        .map(async (key) => JSON.stringify(await readJsonObject(s3, BUCKET, key))),
    );
    const files = [...filesUnder(appRoot), ...filesUnder(process.env.XDG_STATE_HOME as string)]
      .filter((path) => statSync(path).size < 5_000_000)
      .map((path) => readFileSync(path, "latin1"));
    for (const text of [done.text, JSON.stringify(done.structured), ...seen, ...objects, ...files]) {
      expect(text).not.toContain(CODE);
    }
    runtime.close();
  });

  it("changes nothing when the person declines, or when the client cannot ask", async () => {
    const { initial, runtime, live } = await setUp("role-decline");
    const assumeBefore = proxy.current.count({ service: "sts", operation: "AssumeRole" });

    const declined = await invokeTool(
      deployLambdaTool,
      { env: "prod", confirmationToken: await tokenFor(runtime) },
      runtime,
      { askCode: async () => ({ action: "decline" }), askPerson: async () => "accept" },
    );
    expect(declined.isError).toBe(true);
    expect(declined.structured).toMatchObject({ error: { code: "REFUSED" }, reason: "mfa_declined" });

    const cannotAsk = await invokeTool(
      deployLambdaTool,
      { env: "prod", confirmationToken: await tokenFor(runtime) },
      runtime,
      { askCode: null, askPerson: async () => "accept" },
    );
    expect(cannotAsk.isError).toBe(true);
    expect(cannotAsk.structured).toMatchObject({ reason: "mfa_unavailable" });
    expect(String(cannotAsk.structured.summary)).toContain("npx vyaparai-deploy deploy_lambda --env prod");

    const malformed = await invokeTool(
      deployLambdaTool,
      { env: "prod", confirmationToken: await tokenFor(runtime) },
      runtime,
      { askCode: async () => ({ action: "accept", code: "12 34" }), askPerson: async () => "accept" },
    );
    expect(malformed.structured).toMatchObject({ reason: "mfa_malformed" });

    // Read back: the same code is live, and the role was never assumed.
    expect(await live()).toBe(initial.codeSha256);
    expect(proxy.current.count({ service: "sts", operation: "AssumeRole" })).toBe(assumeBefore);
    runtime.close();
  });

  it("a wrong code refused by STS changes nothing", async () => {
    const { initial, runtime, live } = await setUp("role-wrong");
    const rule = proxy.current.add({
      match: { service: "sts", operation: "AssumeRole" },
      action: {
        kind: "fail",
        status: 403,
        code: "AccessDenied",
        message: "MultiFactorAuthentication failed",
      },
      times: 1,
    });
    const out = await invokeTool(
      deployLambdaTool,
      { env: "prod", confirmationToken: await tokenFor(runtime) },
      runtime,
      { askCode: async () => ({ action: "accept", code: "000000" }), askPerson: async () => "accept" },
    );
    rule.remove();
    expect(out.isError).toBe(true);
    expect(out.structured).toMatchObject({ reason: "assume_role_refused" });
    expect(await live()).toBe(initial.codeSha256);
    runtime.close();
  });
});

describe("the CLI and the MFA code", () => {
  it("refuses to take the code from a pipe: only a terminal may supply it", async () => {
    const { appRoot } = writeBackendFixture();
    const roleArn = await createLambdaRole(moto.current);
    writeFileSync(
      join(appRoot, "deploy.config.json"),
      JSON.stringify({ environments: { prod: { deployRole: { roleArn, mfaSerial: MFA_SERIAL } } } }),
    );
    commitFixture(appRoot);
    const run = spawnSync(
      process.execPath,
      [BUILT_CLI, "deploy_lambda", "--env", "prod", "--confirmation-token", "v1.any", "--json"],
      {
        cwd: appRoot,
        input: `${CODE}\n`,
        encoding: "utf8",
        env: { ...process.env, AWS_ENDPOINT_URL: moto.current.endpoint },
      },
    );
    expect(run.status).toBe(1);
    const out = JSON.parse(run.stdout) as { reason?: string; summary: string };
    expect(out.reason).toBe("mfa_unavailable");
    expect(out.summary).toContain("Run this step yourself in a terminal");
    expect(`${run.stdout}${run.stderr}`).not.toContain(CODE);
  });
});
