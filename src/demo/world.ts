import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import type { AwsClients } from "../aws/clients.js";
import {
  createBucketIfMissing,
  createFunction,
  createLambdaRole,
  createSiteDistribution,
  putLiveArtifact,
  zipOf,
} from "../emulator/seed.js";

/**
 * Seeds an emulator with a VyapaarAI-shaped env: the artifact bucket, the site bucket, a
 * CloudFront distribution in front of it, the API function, the DynamoDB tables (all but
 * one, so list_tables has something to report), a few Powertools log lines and, when named,
 * the bucket holding terraform's state.
 */
export interface WorldNames {
  env: string;
  functionName: string;
  artifactBucket: string;
  /** Where the hand-run scripts left the live zip: `<prefix><sha256-hex>.zip`. */
  artifactPrefix: string;
  siteBucket: string;
  tablePrefix: string;
  tableSuffix: string;
  tables: string[];
  /** A bucket for terraform's S3 backend (state and its lock file), when the world has infra. */
  terraformStateBucket?: string;
}

export interface SeededWorld {
  distributionId: string;
  functionArn: string;
  initialCodeSha256: string;
  logGroup: string;
}

export async function seedWorld(aws: AwsClients, names: WorldNames, endpoint: string): Promise<SeededWorld> {
  const s3 = await aws.s3();
  // Several envs share the artifact bucket.
  const buckets = [names.artifactBucket, names.siteBucket];
  if (names.terraformStateBucket) buckets.push(names.terraformStateBucket);
  for (const bucket of buckets) await createBucketIfMissing(s3, bucket);
  const distributionId = await createSiteDistribution(await aws.cloudFront(), {
    callerReference: `vyaparai-${names.env}`,
    comment: `VyapaarAI ${names.env}`,
    siteBucket: names.siteBucket,
    defaultRootObject: "index.html",
  });
  const role = await createLambdaRole(endpoint, `vyaparai-api-${names.env}-role`);
  const code = await zipOf({
    "lambda_handler.py": "def handler(event, context):\n    return {'statusCode': 200}\n",
  });
  // The live code's artifact is where a deploy expects it, as after a first release.
  await putLiveArtifact(s3, { bucket: names.artifactBucket, prefix: names.artifactPrefix }, code);
  const fn = await createFunction(await aws.lambda(), {
    name: names.functionName,
    role,
    code: { ZipFile: code },
  });
  const dynamo = await aws.dynamoDb();
  for (const resource of names.tables) {
    await dynamo.send(
      new CreateTableCommand({
        TableName: `${names.tablePrefix}${resource}${names.tableSuffix}`,
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  }
  const logGroup = `/aws/lambda/${names.functionName}`;
  await seedLogs(aws, logGroup);
  return {
    distributionId,
    functionArn: fn.functionArn,
    initialCodeSha256: fn.codeSha256,
    logGroup,
  };
}

/**
 * `-backend-config` for terraform's S3 backend on the emulator: path-style requests to its
 * endpoint, none of the credential, account, metadata or region checks real AWS needs, and
 * S3-native state locking (a lock file next to the state, no DynamoDB table).
 */
export function emulatorTerraformBackend(
  endpoint: string,
  bucket: string,
  key: string,
): Record<string, string> {
  return {
    bucket,
    key,
    region: "ap-south-1",
    endpoints: `{s3="${endpoint}"}`,
    use_path_style: "true",
    skip_credentials_validation: "true",
    skip_requesting_account_id: "true",
    skip_metadata_api_check: "true",
    skip_region_validation: "true",
    use_lockfile: "true",
  };
}

async function seedLogs(aws: AwsClients, logGroup: string): Promise<void> {
  const logs = await aws.logs();
  await logs.send(new CreateLogGroupCommand({ logGroupName: logGroup }));
  const stream = "2026/11/25/[$LATEST]demo";
  await logs.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName: stream }));
  const now = Date.now() - 60_000;
  const lines = [
    "START RequestId: 11111111-aaaa-4bbb-8ccc-000000000001 Version: $LATEST",
    JSON.stringify({
      level: "INFO",
      message: "order created",
      service: "vyaparai-api",
      cold_start: true,
      function_request_id: "11111111-aaaa-4bbb-8ccc-000000000001",
    }),
    "END RequestId: 11111111-aaaa-4bbb-8ccc-000000000001",
    "REPORT RequestId: 11111111-aaaa-4bbb-8ccc-000000000001\tDuration: 182.31 ms\tBilled Duration: 183 ms\tMemory Size: 1024 MB\tMax Memory Used: 141 MB\tInit Duration: 912.40 ms",
    "START RequestId: 11111111-aaaa-4bbb-8ccc-000000000002 Version: $LATEST",
    JSON.stringify({
      level: "ERROR",
      message: "khata balance lookup failed for store 4411",
      service: "vyaparai-api",
      cold_start: false,
      function_request_id: "11111111-aaaa-4bbb-8ccc-000000000002",
    }),
    "END RequestId: 11111111-aaaa-4bbb-8ccc-000000000002",
    "REPORT RequestId: 11111111-aaaa-4bbb-8ccc-000000000002\tDuration: 41.07 ms\tBilled Duration: 42 ms\tMemory Size: 1024 MB\tMax Memory Used: 143 MB",
  ];
  await logs.send(
    new PutLogEventsCommand({
      logGroupName: logGroup,
      logStreamName: stream,
      logEvents: lines.map((message, i) => ({ timestamp: now + i * 10, message })),
    }),
  );
}
