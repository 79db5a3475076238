import type { LambdaClient } from "@aws-sdk/client-lambda";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createFunction, createLambdaRole as createRole, zipOf } from "../../src/emulator/seed.js";
import type { Moto } from "./moto.js";

/** Tests seed moto with the same helpers as the demo and the benchmarks. */
export { createBucket, createSiteDistribution, zipOf } from "../../src/emulator/seed.js";

let roleCounter = 0;

/** Moto's Lambda refuses CreateFunction without an existing IAM role; each call makes a fresh one. */
export async function createLambdaRole(moto: Moto): Promise<string> {
  return createRole(moto.endpoint, `vyaparai-test-role-${process.pid}-${++roleCounter}`);
}

export interface TestFunctionOptions {
  name: string;
  files?: Record<string, string>;
  memorySize?: number;
}

/** Creates a python3.11 function like vyaparai-api-* and returns its initial CodeSha256. */
export async function createTestFunction(moto: Moto, lambda: LambdaClient, options: TestFunctionOptions) {
  const role = await createLambdaRole(moto);
  const created = await createFunction(lambda, {
    name: options.name,
    role,
    code: {
      ZipFile: await zipOf(options.files ?? { "lambda_handler.py": "def handler(e, c):\n    return 1\n" }),
    },
    memorySize: options.memorySize,
  });
  return { ...created, role };
}

/** The bytes stored under `key`, read back from S3; null when there is no such object. */
export async function storedBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(
      await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
  } catch {
    return null;
  }
}
