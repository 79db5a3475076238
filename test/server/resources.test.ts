import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { redactDeep } from "../../src/core/redact.js";
import { writeReleaseRecord } from "../../src/release/records.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import { invokeTool } from "../../src/server/invoke.js";
import { createMcpServer } from "../../src/server/mcp-server.js";
import { RESOURCE_NOT_FOUND } from "../../src/server/resources.js";
import type { Runtime } from "../../src/server/runtime.js";
import { deployStatusTool } from "../../src/tools/deploy-status.js";
import { createBucket } from "../support/aws-fixtures.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";

const moto = useMoto();
const ARTIFACTS = `vyaparai-artifacts-resources-${process.pid}`;
const NOW = new Date("2026-03-01T12:00:00.000Z");
/** A credential-shaped string planted in a record field the writer does not redact. */
const SECRET = "AKIAIOSFODNN7EXAMPLE";

const config = {
  environments: {
    prod: { lambda: { functionName: `vyaparai-api-res-${process.pid}`, artifactBucket: ARTIFACTS } },
    dev: { lambda: { functionName: `vyaparai-api-res-dev-${process.pid}`, artifactBucket: ARTIFACTS } },
  },
};

function releaseId(i: number): string {
  return `20260301T10${String(i).padStart(2, "0")}00000Z-${(0xabc000 + i).toString(16)}`;
}

function record(i: number, fields: Partial<ReleaseRecord> = {}): ReleaseRecord {
  const startedAt = `2026-03-01T10:${String(i).padStart(2, "0")}:00.000Z`;
  return {
    releaseId: releaseId(i),
    env: "prod",
    component: "lambda",
    tool: "deploy_lambda",
    status: "succeeded",
    who: "arn:aws:sts::123456789012:assumed-role/deployer/alice",
    gitSha: "0123456789abcdef0123456789abcdef01234567",
    startedAt,
    finishedAt: startedAt,
    planDigest: "digest",
    journal: [],
    artifacts: {},
    before: {},
    after: { note: `key ${SECRET}` },
    timings: {},
    ...fields,
  };
}

let runtime: Runtime;
let client: Client | undefined;

async function connect(readOnly = false): Promise<Client> {
  const server = createMcpServer({ runtime, readOnly });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  client = new Client({ name: "resources-test", version: "0.0.0" });
  await client.connect(clientSide);
  return client;
}

async function readError(c: Client, uri: string): Promise<McpError> {
  const error = await c.readResource({ uri }).catch((e: unknown) => e);
  expect(error, uri).toBeInstanceOf(McpError);
  return error as McpError;
}

beforeAll(async () => {
  const s3 = await moto.current.clients().s3();
  await createBucket(s3, ARTIFACTS);
  // 22 lambda releases in prod (only the newest 20 are listed), one frontend release in dev.
  for (let i = 1; i <= 22; i++) await writeReleaseRecord(s3, ARTIFACTS, record(i));
  await writeReleaseRecord(
    s3,
    ARTIFACTS,
    record(30, { env: "dev", component: "frontend", tool: "deploy_frontend", status: "rolled_back" }),
  );
  await s3.send(
    new PutObjectCommand({
      Bucket: ARTIFACTS,
      Key: `reports/prod/lambda/${releaseId(22)}.md`,
      Body: `# Release ${releaseId(22)}\n\nCaller said: password=${SECRET}hunter2\n`,
      ContentType: "text/markdown",
    }),
  );
  runtime = testRuntime({ moto: moto.current, config, now: () => NOW });
});

afterEach(async () => {
  await client?.close();
  client = undefined;
});

describe("resources", () => {
  it("declares the capability and lists the templates, in read-only mode too", async () => {
    for (const readOnly of [false, true]) {
      const c = await connect(readOnly);
      expect(c.getServerCapabilities()?.resources).toBeDefined();
      const { resourceTemplates } = await c.listResourceTemplates();
      expect(resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual([
        "vyaparai-deploy://{env}/releases/{component}/{releaseId}",
        "vyaparai-deploy://{env}/releases/{component}/{releaseId}/report",
        "vyaparai-deploy://{env}/status",
      ]);
      await c.close();
    }
  });

  it("lists the status of every configured env and the newest 20 releases per env and component", async () => {
    const c = await connect(true);
    const { resources } = await c.listResources();
    const uris = resources.map((r) => r.uri);
    expect(uris).toContain("vyaparai-deploy://prod/status");
    expect(uris).toContain("vyaparai-deploy://dev/status");
    const prodLambda = uris.filter((u) => u.startsWith("vyaparai-deploy://prod/releases/lambda/"));
    expect(prodLambda).toHaveLength(20);
    expect(prodLambda[0]).toBe(`vyaparai-deploy://prod/releases/lambda/${releaseId(22)}`);
    expect(prodLambda).not.toContain(`vyaparai-deploy://prod/releases/lambda/${releaseId(2)}`);
    expect(uris).toContain(`vyaparai-deploy://dev/releases/frontend/${releaseId(30)}`);
    const devFrontend = resources.find((r) => r.uri.endsWith(releaseId(30)));
    expect(devFrontend?.mimeType).toBe("application/json");
    expect(devFrontend?.title).toContain("rolled_back");
    // No outside text (the caller ARN) in a name, title or description.
    expect(JSON.stringify(resources)).not.toContain("alice");
  });

  it("reads an env's status as exactly what deploy_status answers", async () => {
    const c = await connect();
    const { contents } = await c.readResource({ uri: "vyaparai-deploy://prod/status" });
    expect(contents[0]?.mimeType).toBe("application/json");
    const body = JSON.parse((contents[0] as { text: string }).text);
    const tool = await invokeTool(deployStatusTool, { env: "prod" }, runtime);
    expect(body).toEqual(tool.structured);
    expect(body.releases.some((r: { releaseId: string }) => r.releaseId === releaseId(22))).toBe(true);
  });

  it("reads a release record, redacted as the server redacts records", async () => {
    const c = await connect();
    const uri = `vyaparai-deploy://prod/releases/lambda/${releaseId(22)}`;
    const { contents } = await c.readResource({ uri });
    expect(contents[0]?.uri).toBe(uri);
    const text = (contents[0] as { text: string }).text;
    expect(text).not.toContain(SECRET);
    const body = JSON.parse(text);
    expect(body.releaseId).toBe(releaseId(22));
    expect(body).toEqual(JSON.parse(JSON.stringify(redactDeep(record(22)))));
  });

  it("reads a stored report as Markdown, redacted, and names the fix when there is none", async () => {
    const c = await connect();
    const uri = `vyaparai-deploy://prod/releases/lambda/${releaseId(22)}/report`;
    const { contents } = await c.readResource({ uri });
    expect(contents[0]?.mimeType).toBe("text/markdown");
    const text = (contents[0] as { text: string }).text;
    expect(text).toContain(`# Release ${releaseId(22)}`);
    expect(text).not.toContain(SECRET);
    const missing = await readError(c, `vyaparai-deploy://prod/releases/lambda/${releaseId(21)}/report`);
    expect(missing.code).toBe(RESOURCE_NOT_FOUND);
    expect(missing.message).toContain(`vyaparai-deploy://prod/releases/lambda/${releaseId(21)}`);
    expect(missing.message).toContain(
      `vyaparai-deploy report ${releaseId(21)} --env prod --component lambda`,
    );
  });

  it("answers unknown envs, components and ids with errors that name the fix", async () => {
    const c = await connect();
    const env = await readError(c, "vyaparai-deploy://qa/status");
    expect(env.code).toBe(ErrorCode.InvalidParams);
    expect(env.message).toMatch(/Unknown env "qa"\. Configured envs: dev, prod, staging\./);
    const component = await readError(c, `vyaparai-deploy://prod/releases/database/${releaseId(1)}`);
    expect(component.code).toBe(ErrorCode.InvalidParams);
    expect(component.message).toMatch(/Unknown component "database": use one of lambda, frontend, infra/);
    const id = await readError(c, "vyaparai-deploy://prod/releases/lambda/latest");
    expect(id.code).toBe(ErrorCode.InvalidParams);
    expect(id.message).toMatch(/"latest" is not a release id .*resources\/list/);
    const absent = await readError(c, `vyaparai-deploy://dev/releases/lambda/${releaseId(5)}`);
    expect(absent.code).toBe(RESOURCE_NOT_FOUND);
    expect(absent.message).toMatch(/No lambda release .* in dev .*vyaparai-deploy:\/\/dev\/status/);
  });
});
