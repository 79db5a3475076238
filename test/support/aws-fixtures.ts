import { CreateRoleCommand, IAMClient } from "@aws-sdk/client-iam";
import { CreateFunctionCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { CreateBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import yazl from "yazl";
import type { Moto } from "./moto.js";

/** Creates a bucket in ap-south-1 (moto wants the location constraint outside us-east-1). */
export async function createBucket(s3: S3Client, bucket: string, region = "ap-south-1"): Promise<void> {
  await s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      ...(region === "us-east-1"
        ? {}
        : { CreateBucketConfiguration: { LocationConstraint: region as "ap-south-1" } }),
    }),
  );
}

/** A small in-memory zip holding the given files (for seeding a function's first code). */
export async function zipOf(files: Record<string, string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, body] of Object.entries(files))
    zip.addBuffer(Buffer.from(body), name, { mtime: new Date(0) });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let roleCounter = 0;

/** Moto's Lambda refuses CreateFunction without an existing IAM role. */
export async function createLambdaRole(moto: Moto): Promise<string> {
  const iam = new IAMClient({ region: "us-east-1", endpoint: moto.endpoint });
  try {
    const name = `vyaparai-test-role-${process.pid}-${++roleCounter}`;
    const out = await iam.send(
      new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        }),
      }),
    );
    return out.Role?.Arn as string;
  } finally {
    iam.destroy();
  }
}

export interface TestFunctionOptions {
  name: string;
  files?: Record<string, string>;
  memorySize?: number;
}

/** Creates a python3.11 function (moto 5.2.1 drops LoggingConfig, so none is set) like vyaparai-api-* and returns its initial CodeSha256. */
export async function createTestFunction(moto: Moto, lambda: LambdaClient, options: TestFunctionOptions) {
  const role = await createLambdaRole(moto);
  const out = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: options.name,
      Runtime: "python3.11",
      Role: role,
      Handler: "lambda_handler.handler",
      Code: {
        ZipFile: await zipOf(options.files ?? { "lambda_handler.py": "def handler(e, c):\n    return 1\n" }),
      },
      MemorySize: options.memorySize ?? 1024,
      Timeout: 30,
    }),
  );
  return { codeSha256: out.CodeSha256 as string, functionArn: out.FunctionArn as string, role };
}
