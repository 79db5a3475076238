import * as z from "zod";
import { envArg, READ_ONLY, summaryField } from "./common.js";
import { defineTool } from "./definition.js";

const tableSchema = z.object({
  name: z.string(),
  resource: z.string().describe("Name without the env prefix and suffix, e.g. 'orders'."),
  status: z.string(),
  itemCount: z.number().nullable(),
  sizeBytes: z.number().nullable(),
  billingMode: z.string().nullable(),
  pitr: z.string().nullable().describe("Point-in-time recovery: ENABLED, DISABLED or null when unknown."),
  encryption: z.string().nullable(),
  expected: z.boolean(),
});

export const listTablesTool = defineTool({
  name: "list_tables",
  title: "List DynamoDB tables",
  description:
    "Lists the env's DynamoDB tables (vyaparai-{resource}-{env}) with status, item count, size, billing mode, PITR and encryption, and which expected tables are missing or unexpected. Read-only.",
  inputSchema: { env: envArg },
  outputSchema: {
    summary: summaryField,
    env: z.string(),
    region: z.string(),
    tables: z.array(tableSchema),
    missing: z.array(z.string()).describe("Expected resources with no table."),
    unexpected: z
      .array(z.string())
      .describe("Tables of this env's convention that are not in the expected list."),
  },
  annotations: READ_ONLY,
  async handler(_args, ctx) {
    // Lazy: the domain module pulls in the DynamoDB client, which tools/list must not pay for.
    const { listEnvTables } = await import("../observe/tables.js");
    const report = await listEnvTables({
      dynamoDb: await ctx.aws.dynamoDb(),
      naming: ctx.env.tables,
      signal: ctx.signal,
    });
    const parts = [`${report.tables.length} table(s) in ${ctx.envName} (${ctx.env.region})`];
    parts.push(report.missing.length ? `missing: ${report.missing.join(", ")}` : "none missing");
    if (report.unexpected.length) parts.push(`unexpected: ${report.unexpected.join(", ")}`);
    const notReady = report.tables.filter((t) => t.status !== "ACTIVE");
    if (notReady.length)
      parts.push(`not ACTIVE: ${notReady.map((t) => `${t.name} (${t.status})`).join(", ")}`);
    return { summary: `${parts.join("; ")}.`, env: ctx.envName, region: ctx.env.region, ...report };
  },
});
