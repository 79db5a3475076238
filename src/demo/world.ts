import { createHash } from "node:crypto";
import { CreateDistributionCommand } from "@aws-sdk/client-cloudfront";
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from "@aws-sdk/client-cloudwatch-logs";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateRoleCommand, IAMClient } from "@aws-sdk/client-iam";
import { CreateFunctionCommand } from "@aws-sdk/client-lambda";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import yazl from "yazl";
import type { AwsClients } from "../aws/clients.js";

/**
 * Seeds an emulator with a VyapaarAI-shaped env: the artifact bucket, the site bucket, a
 * CloudFront distribution in front of it, the API function, the DynamoDB tables (all but
 * one, so list_tables has something to report) and a few Powertools log lines.
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
}

export interface SeededWorld {
  distributionId: string;
  functionArn: string;
  initialCodeSha256: string;
  logGroup: string;
}

async function tinyZip(): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(
    Buffer.from("def handler(event, context):\n    return {'statusCode': 200}\n"),
    "lambda_handler.py",
    {
      mtime: new Date(0),
    },
  );
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function seedWorld(aws: AwsClients, names: WorldNames, endpoint: string): Promise<SeededWorld> {
  const s3 = await aws.s3();
  for (const bucket of [names.artifactBucket, names.siteBucket]) {
    try {
      await s3.send(
        new CreateBucketCommand({
          Bucket: bucket,
          CreateBucketConfiguration: { LocationConstraint: "ap-south-1" },
        }),
      );
    } catch (error) {
      // Several envs share the artifact bucket.
      if ((error as { name?: string }).name !== "BucketAlreadyOwnedByYou") throw error;
    }
  }
  const cloudFront = await aws.cloudFront();
  const distribution = await cloudFront.send(
    new CreateDistributionCommand({
      DistributionConfig: {
        CallerReference: `vyaparai-${names.env}`,
        Comment: `VyapaarAI ${names.env}`,
        Enabled: true,
        DefaultRootObject: "index.html",
        Origins: {
          Quantity: 1,
          Items: [
            {
              Id: "site",
              DomainName: `${names.siteBucket}.s3.amazonaws.com`,
              S3OriginConfig: { OriginAccessIdentity: "" },
            },
          ],
        },
        DefaultCacheBehavior: {
          TargetOriginId: "site",
          ViewerProtocolPolicy: "redirect-to-https",
          MinTTL: 0,
          ForwardedValues: { QueryString: false, Cookies: { Forward: "none" } },
          TrustedSigners: { Enabled: false, Quantity: 0 },
        },
      },
    }),
  );
  // moto's Lambda insists on an existing role; IAM is global, so any region endpoint works.
  const iam = new IAMClient({ region: "us-east-1", endpoint });
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: `vyaparai-api-${names.env}-role`,
      AssumeRolePolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
        ],
      }),
    }),
  );
  iam.destroy();
  const lambda = await aws.lambda();
  const code = await tinyZip();
  // The live code's artifact is where a deploy expects it, as after a first release. The
  // tool needs it to roll back without an alias, and moto cannot serve GetFunction's
  // Code.Location to fetch it from Lambda.
  await s3.send(
    new PutObjectCommand({
      Bucket: names.artifactBucket,
      Key: `${names.artifactPrefix}${createHash("sha256").update(code).digest("hex")}.zip`,
      Body: code,
    }),
  );
  const fn = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: names.functionName,
      Runtime: "python3.11",
      Role: role.Role?.Arn as string,
      Handler: "lambda_handler.handler",
      Code: { ZipFile: code },
      MemorySize: 1024,
      Timeout: 30,
    }),
  );
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
    distributionId: distribution.Distribution?.Id as string,
    functionArn: fn.FunctionArn as string,
    initialCodeSha256: fn.CodeSha256 as string,
    logGroup,
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
