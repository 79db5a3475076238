import { CreateTableCommand, UpdateContinuousBackupsCommand } from "@aws-sdk/client-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { invokeTool } from "../../src/server/invoke.js";
import { listTablesTool } from "../../src/tools/list-tables.js";
import { useMoto } from "../support/moto.js";
import { testRuntime } from "../support/runtime.js";

const moto = useMoto();

async function createTable(name: string, billing: "PAY_PER_REQUEST" | "PROVISIONED" = "PAY_PER_REQUEST") {
  const dynamo = await moto.current.clients().dynamoDb();
  await dynamo.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      BillingMode: billing,
      ...(billing === "PROVISIONED"
        ? { ProvisionedThroughput: { ReadCapacityUnits: 1, WriteCapacityUnits: 1 } }
        : {}),
    }),
  );
}

describe("list_tables against moto", () => {
  beforeAll(async () => {
    // Prod: 3 of the 9 expected plus one unexpected; staging tables and another app's tables.
    await createTable("vyaparai-orders-prod");
    await createTable("vyaparai-stores-prod", "PROVISIONED");
    await createTable("vyaparai-khata-transactions-prod");
    await createTable("vyaparai-scratch-prod");
    await createTable("vyaparai-orders-staging");
    await createTable("vyaparai-products-dev");
    await createTable("otherapp-orders-prod");
    const dynamo = await moto.current.clients().dynamoDb();
    await dynamo.send(
      new UpdateContinuousBackupsCommand({
        TableName: "vyaparai-orders-prod",
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    );
  });

  it("returns exactly the prod tables, with missing and unexpected", async () => {
    const runtime = testRuntime({ moto: moto.current });
    const result = await invokeTool(listTablesTool, { env: "prod" }, runtime);
    expect(result.isError).toBe(false);
    const out = result.structured as {
      tables: Array<{ name: string; resource: string; billingMode: string; pitr: string; status: string }>;
      missing: string[];
      unexpected: string[];
    };
    expect(out.tables.map((t) => t.name)).toEqual([
      "vyaparai-khata-transactions-prod",
      "vyaparai-orders-prod",
      "vyaparai-scratch-prod",
      "vyaparai-stores-prod",
    ]);
    expect(out.missing).toEqual([
      "products",
      "sessions",
      "metrics",
      "customer-balances",
      "products-catalog",
      "translation-cache",
    ]);
    expect(out.unexpected).toEqual(["vyaparai-scratch-prod"]);
    const orders = out.tables.find((t) => t.resource === "orders");
    expect(orders).toMatchObject({ status: "ACTIVE", billingMode: "PAY_PER_REQUEST", pitr: "ENABLED" });
    expect(out.tables.find((t) => t.resource === "stores")?.billingMode).toBe("PROVISIONED");
    expect(out.tables.find((t) => t.resource === "khata-transactions")?.pitr).toBe("DISABLED");
    runtime.close();
  });

  it("an unknown env is an isError result naming the configured envs", async () => {
    const runtime = testRuntime({ moto: moto.current });
    const result = await invokeTool(listTablesTool, { env: "production" }, runtime);
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/Unknown env "production"\. Configured envs: dev, prod, staging/);
    runtime.close();
  });

  it("a wrong argument names the field", async () => {
    const runtime = testRuntime({ moto: moto.current });
    const result = await invokeTool(listTablesTool, { env: "prod", verbose: true }, runtime);
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/"verbose" is not an argument of list_tables\. Valid arguments: env\./);
  });
});
