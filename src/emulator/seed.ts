import { createHash } from "node:crypto";
import { type CloudFrontClient, CreateDistributionCommand } from "@aws-sdk/client-cloudfront";
import { CreateRoleCommand, IAMClient } from "@aws-sdk/client-iam";
import { CreateFunctionCommand, type FunctionCode, type LambdaClient } from "@aws-sdk/client-lambda";
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import yazl from "yazl";
import { artifactKeyFor } from "../deploy/lambda/artifact.js";

/**
 * Resources an emulated world starts from, written once for the demo, the benchmarks and the
 * tests: buckets, the IAM role moto's Lambda insists on, a python function like
 * vyaparai-api-*, and a CloudFront distribution in front of a site bucket.
 */

/** Creates a bucket, by default in ap-south-1 (outside us-east-1 S3 wants the location constraint). */
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

/** As createBucket, but a bucket this account already owns is fine (several envs share the artifact bucket). */
export async function createBucketIfMissing(
  s3: S3Client,
  bucket: string,
  region = "ap-south-1",
): Promise<void> {
  try {
    await createBucket(s3, bucket, region);
  } catch (error) {
    if ((error as { name?: string }).name !== "BucketAlreadyOwnedByYou") throw error;
  }
}

/** A small in-memory zip of the given files with fixed times (a function's first code). */
export async function zipOf(files: Record<string, string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, body] of Object.entries(files))
    zip.addBuffer(Buffer.from(body), name, { mtime: new Date(0) });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Stores a function's code under its content address, as a first release would have left it:
 * deploy_lambda needs the live code's artifact to roll back, and moto cannot serve
 * GetFunction's Code.Location to fetch it from Lambda. Returns the key.
 */
export async function putLiveArtifact(
  s3: S3Client,
  artifact: { bucket: string; prefix: string },
  code: Buffer,
): Promise<string> {
  const key = artifactKeyFor(artifact.prefix, createHash("sha256").update(code).digest("hex"));
  await s3.send(new PutObjectCommand({ Bucket: artifact.bucket, Key: key, Body: code }));
  return key;
}

/** A role Lambda may assume; moto's Lambda refuses CreateFunction without an existing one. Returns its ARN. */
export async function createLambdaRole(endpoint: string, roleName: string): Promise<string> {
  // IAM is global, so any region works against the emulator's single endpoint.
  const iam = new IAMClient({ region: "us-east-1", endpoint });
  try {
    const out = await iam.send(
      new CreateRoleCommand({
        RoleName: roleName,
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

export interface FunctionSeed {
  name: string;
  role: string;
  code: FunctionCode;
  memorySize?: number;
}

/**
 * Creates a python3.11 function shaped like vyaparai-api-* (moto 5.2.1 drops LoggingConfig, so
 * none is set) and returns what it went live with.
 */
export async function createFunction(
  lambda: LambdaClient,
  seed: FunctionSeed,
): Promise<{ codeSha256: string; functionArn: string }> {
  const out = await lambda.send(
    new CreateFunctionCommand({
      FunctionName: seed.name,
      Runtime: "python3.11",
      Role: seed.role,
      Handler: "lambda_handler.handler",
      Code: seed.code,
      MemorySize: seed.memorySize ?? 1024,
      Timeout: 30,
    }),
  );
  return { codeSha256: out.CodeSha256 as string, functionArn: out.FunctionArn as string };
}

/** A distribution serving a site bucket, so frontend deploys have something to invalidate. Returns its id. */
export async function createSiteDistribution(
  cloudFront: CloudFrontClient,
  options: { callerReference: string; comment: string; siteBucket: string; defaultRootObject?: string },
): Promise<string> {
  const out = await cloudFront.send(
    new CreateDistributionCommand({
      DistributionConfig: {
        CallerReference: options.callerReference,
        Comment: options.comment,
        Enabled: true,
        ...(options.defaultRootObject ? { DefaultRootObject: options.defaultRootObject } : {}),
        Origins: {
          Quantity: 1,
          Items: [
            {
              Id: "site",
              DomainName: `${options.siteBucket}.s3.amazonaws.com`,
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
  return out.Distribution?.Id as string;
}
