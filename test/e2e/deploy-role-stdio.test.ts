import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ElicitRequestSchema, LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDeployedFunction,
  liveCodeSha256,
  readJsonObject,
  useLambdaEnv,
} from "../deploy/lambda-support.js";
import { createLambdaRole } from "../support/aws-fixtures.js";
import { commitFixture, writeBackendFixture } from "../support/backend-fixture.js";
import { useMoto } from "../support/moto.js";
import { connectStdio, type StdioSession } from "../support/stdio.js";

/**
 * The MFA code through the built server over stdio: the server asks with a form elicitation,
 * the client (standing in for the person) answers, and the answer never comes back in any
 * tool result, log notification or the server's stderr.
 */
const moto = useMoto();
const BUCKET = "vyaparai-artifacts-role-stdio";
const lambdaEnv = useLambdaEnv(moto, BUCKET);
const FUNCTION = "vyaparai-api-role-stdio";
const CODE = "482913";
const MFA_SERIAL = "arn:aws:iam::123456789012:mfa/arjun";
let session: StdioSession;
const asked: Array<{ message: string; fields: string[] }> = [];
const logged: string[] = [];

beforeAll(async () => {
  await createDeployedFunction(moto.current, BUCKET, FUNCTION, "backend/role-stdio/");
  const roleArn = await createLambdaRole(moto.current);
  const { appRoot } = writeBackendFixture();
  writeFileSync(
    join(appRoot, "deploy.config.json"),
    JSON.stringify({
      environments: {
        prod: {
          ...lambdaEnv.envConfig(FUNCTION, null, "backend/role-stdio/"),
          deployRole: { roleArn, mfaSerial: MFA_SERIAL },
        },
      },
      backend: { testCommand: "python3 -c \"print('1 passed')\"" },
    }),
  );
  commitFixture(appRoot);
  session = await connectStdio({
    cwd: appRoot,
    env: { AWS_ENDPOINT_URL: moto.current.endpoint },
    capabilities: { capabilities: { elicitation: { form: {} } } },
  });
  session.client.setRequestHandler(ElicitRequestSchema, async (request) => {
    const params = request.params as {
      message: string;
      requestedSchema?: { properties?: Record<string, unknown> };
    };
    const fields = Object.keys(params.requestedSchema?.properties ?? {});
    asked.push({ message: params.message, fields });
    if (fields.includes("code")) return { action: "accept", content: { code: CODE } };
    return { action: "accept", content: { approve: true } };
  });
  session.client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
    logged.push(JSON.stringify(notification.params));
  });
}, 120_000);

afterAll(async () => {
  await session?.close();
});

describe("a prod deploy with a deploy role over stdio", () => {
  it("asks for the code by form elicitation, deploys as the role, and the code never comes back", async () => {
    const lambda = await moto.current.clients().lambda();
    const before = await liveCodeSha256(lambda, FUNCTION);
    const call = async (name: string, args: Record<string, unknown>) => {
      const result = await session.client.callTool({ name, arguments: args }, undefined, {
        timeout: 300_000,
      });
      return { result, text: JSON.stringify(result) };
    };
    const preflight = await call("preflight", { env: "prod", components: ["backend"] });
    expect((preflight.result.structuredContent as { ok: boolean }).ok, preflight.text).toBe(true);
    const planned = await call("deploy_lambda", { env: "prod" });
    const token = (planned.result.structuredContent as { confirmationToken: string }).confirmationToken;
    expect(asked).toEqual([]);

    const done = await call("deploy_lambda", { env: "prod", confirmationToken: token });
    const out = done.result.structuredContent as { status: string; releaseId: string };
    expect(out.status, done.text).toBe("deployed");
    expect(asked.map((a) => a.fields)).toEqual([["code"], ["approve"]]);
    expect(asked[0]?.message).toContain(MFA_SERIAL);
    expect(await liveCodeSha256(lambda, FUNCTION)).not.toBe(before);

    const record = await readJsonObject(
      await moto.current.clients().s3(),
      BUCKET,
      `releases/prod/lambda/${out.releaseId}.json`,
    );
    expect(String(record.who)).toMatch(/:assumed-role\/.*\/[0-9TZ]+-[0-9a-f]{6}$/);
    expect(record.deployRole).toMatchObject({ sessionName: out.releaseId, mfaSerial: MFA_SERIAL });

    const status = await call("deploy_status", { env: "prod" });
    const shown = (
      status.result.structuredContent as { releases: Array<Record<string, unknown>> }
    ).releases.find((r) => r.releaseId === out.releaseId);
    expect(shown?.deployRole).toMatchObject({ sessionName: out.releaseId, mfaSerial: MFA_SERIAL });
    for (const text of [preflight.text, planned.text, done.text, status.text, ...logged, session.stderr()]) {
      expect(text).not.toContain(CODE);
    }
  });
});
