import {
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  type DescribeTableCommandOutput,
  type DynamoDBClient,
  paginateListTables,
} from "@aws-sdk/client-dynamodb";
import pLimit from "p-limit";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import { throwIfAborted } from "../core/errors.js";

export interface TableNaming {
  prefix: string;
  suffix: string;
  expected: string[];
}

export interface TableInfo {
  name: string;
  resource: string;
  status: string;
  itemCount: number | null;
  sizeBytes: number | null;
  billingMode: string | null;
  pitr: string | null;
  encryption: string | null;
  expected: boolean;
}

export interface TablesReport {
  tables: TableInfo[];
  missing: string[];
  unexpected: string[];
}

// DescribeTable is cheap but rate-limited per account; a handful in flight is plenty.
const DESCRIBE_CONCURRENCY = 5;

/**
 * The resource part of a table name under the env's convention, or null when the table
 * belongs to another app or env. A resource must not itself end with another env's
 * suffix pattern, e.g. with suffix "-prod", "vyaparai-orders-prod" → "orders".
 */
export function resourceOf(tableName: string, naming: Pick<TableNaming, "prefix" | "suffix">): string | null {
  if (!tableName.startsWith(naming.prefix) || !tableName.endsWith(naming.suffix)) return null;
  const resource = tableName.slice(naming.prefix.length, tableName.length - naming.suffix.length);
  return resource.length > 0 ? resource : null;
}

export async function listEnvTables(options: {
  dynamoDb: DynamoDBClient;
  naming: TableNaming;
  signal?: AbortSignal;
}): Promise<TablesReport> {
  const { dynamoDb, naming, signal } = options;
  const names: string[] = [];
  try {
    for await (const page of paginateListTables({ client: dynamoDb, pageSize: 100 }, {})) {
      throwIfAborted(signal);
      for (const name of page.TableNames ?? []) if (resourceOf(name, naming) !== null) names.push(name);
    }
  } catch (error) {
    throw mapAwsError(error, "dynamodb:ListTables");
  }
  const limit = pLimit(DESCRIBE_CONCURRENCY);
  const expectedSet = new Set(naming.expected);
  const tables = await Promise.all(
    names
      .sort()
      .map((name) => limit(() => describe(dynamoDb, name, resourceOf(name, naming) as string, expectedSet))),
  );
  const present = new Set(tables.map((t) => t.resource));
  return {
    tables,
    missing: naming.expected.filter((resource) => !present.has(resource)),
    unexpected: tables.filter((t) => !t.expected).map((t) => t.name),
  };
}

async function describe(
  dynamoDb: DynamoDBClient,
  name: string,
  resource: string,
  expected: Set<string>,
): Promise<TableInfo> {
  let table: DescribeTableCommandOutput;
  try {
    table = await dynamoDb.send(new DescribeTableCommand({ TableName: name }));
  } catch (error) {
    throw mapAwsError(error, "dynamodb:DescribeTable", name);
  }
  const t = table.Table ?? {};
  let pitr: string | null = null;
  try {
    const backups = await dynamoDb.send(new DescribeContinuousBackupsCommand({ TableName: name }));
    pitr =
      backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription?.PointInTimeRecoveryStatus ?? null;
  } catch (error) {
    // Missing permission for backups should not hide the table; report PITR as unknown.
    if (!isAwsErrorNamed(error, "AccessDeniedException", "TableNotFoundException")) {
      throw mapAwsError(error, "dynamodb:DescribeContinuousBackups", name);
    }
  }
  return {
    name,
    resource,
    status: t.TableStatus ?? "UNKNOWN",
    itemCount: t.ItemCount ?? null,
    sizeBytes: t.TableSizeBytes ?? null,
    // A table created as provisioned never gets a BillingModeSummary.
    billingMode: t.BillingModeSummary?.BillingMode ?? (t.ProvisionedThroughput ? "PROVISIONED" : null),
    pitr,
    // No SSEDescription means the AWS-owned default key.
    encryption: t.SSEDescription
      ? `${t.SSEDescription.SSEType ?? "KMS"} (${t.SSEDescription.Status ?? "?"})`
      : "AWS_OWNED_KEY",
    expected: expected.has(resource),
  };
}
