import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { useMoto } from "../support/moto.js";
import { connectStdio, type StdioSession } from "../support/stdio.js";

const moto = useMoto();
let session: StdioSession | undefined;
afterEach(async () => {
  await session?.close();
  session = undefined;
});

function appDir(config: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "vyaparai-stdio-"));
  writeFileSync(join(dir, "deploy.config.json"), JSON.stringify(config));
  return dir;
}

describe("the built server over stdio", () => {
  it("lists the ten tools with annotations and answers a call with structuredContent", async () => {
    const dynamo = await moto.current.clients().dynamoDb();
    await dynamo.send(
      new CreateTableCommand({
        TableName: "vyaparai-orders-dev",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    session = await connectStdio({ cwd: appDir(), env: { AWS_ENDPOINT_URL: moto.current.endpoint } });
    const { tools } = await session.client.listTools();
    expect(tools).toHaveLength(10);
    for (const tool of tools) {
      expect(tool.annotations?.readOnlyHint).toBeTypeOf("boolean");
      expect(tool.annotations?.destructiveHint).toBeTypeOf("boolean");
      expect(tool.outputSchema).toBeDefined();
    }
    const result = await session.client.callTool({ name: "list_tables", arguments: { env: "dev" } });
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as { tables: Array<{ name: string }>; missing: string[] };
    expect(structured.tables.map((t) => t.name)).toEqual(["vyaparai-orders-dev"]);
    expect(structured.missing).not.toContain("orders");
    const text = (result.content as Array<{ type: string; text: string }>)[0]?.text ?? "";
    expect(JSON.parse(text)).toEqual(structured);
  });

  it("--read-only lists only the six read-only tools", async () => {
    session = await connectStdio({ args: ["--read-only"], cwd: appDir() });
    const { tools } = await session.client.listTools();
    expect(tools).toHaveLength(6);
    expect(tools.every((t) => t.annotations?.readOnlyHint === true)).toBe(true);
  });

  it("config readOnly has the same effect", async () => {
    session = await connectStdio({ cwd: appDir({ readOnly: true }) });
    const { tools } = await session.client.listTools();
    expect(tools.map((t) => t.name)).not.toContain("deploy_lambda");
  });
});
