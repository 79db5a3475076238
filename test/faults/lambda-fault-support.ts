import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  type LambdaClient,
} from "@aws-sdk/client-lambda";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { expect } from "vitest";
import { createAwsClients } from "../../src/aws/clients.js";
import { CONFIG_FILE_NAME, loadConfig } from "../../src/config/load.js";
import type { Clock } from "../../src/core/context.js";
import type { ToolCallResult } from "../../src/server/invoke.js";
import { createRuntime, type Runtime } from "../../src/server/runtime.js";
import type { FaultProxy } from "../support/fault-proxy.js";
import { bodyText } from "../support/s3-body.js";

/** Shared by the Lambda fault tests (not a test file itself). */

export interface FaultEnv {
  envName: string;
  functionName: string;
  alias: string | null;
  bucket: string;
  prefix: string;
  healthUrl: string;
  protected?: boolean;
}

export interface ReleaseTuning {
  lockTtlSeconds?: number;
  undoBudgetSeconds?: number;
  requestTimeoutSeconds?: number;
}

/**
 * A runtime whose one env deploys `env.functionName` with every AWS call going through the
 * fault proxy, built as the product builds its clients (createRuntime's default honours
 * release.requestTimeoutSeconds; testRuntime's makeClients does not, so it is not used here).
 */
export function faultRuntime(options: {
  proxy: FaultProxy;
  appRoot: string;
  env: FaultEnv;
  release?: ReleaseTuning;
  now?: Clock;
}): Runtime {
  const { env } = options;
  const config = {
    environments: {
      [env.envName]: {
        protected: env.protected ?? false,
        lambda: {
          functionName: env.functionName,
          alias: env.alias,
          artifactBucket: env.bucket,
          artifactPrefix: env.prefix,
        },
        health: [{ name: "api", url: env.healthUrl }],
      },
    },
    ...(options.release ? { release: options.release } : {}),
  };
  writeFileSync(join(options.appRoot, CONFIG_FILE_NAME), JSON.stringify(config, null, 2));
  const loaded = loadConfig({ cwd: options.appRoot, env: {} });
  const requestTimeoutMs = loaded.config.release.requestTimeoutSeconds * 1000;
  return createRuntime({
    loaded,
    env: {},
    ...(options.now ? { now: options.now } : {}),
    makeClients: (envConfig) =>
      createAwsClients({ region: envConfig.region, endpoint: options.proxy.endpoint, requestTimeoutMs }),
  });
}

export interface LockBody {
  nonce: string;
  releaseId: string;
  startedAt: string;
  expiresAt: string;
  ttlSeconds: number;
}

function isMissing(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === "NoSuchKey" || name === "NotFound";
}

/** locks/<env>.json as moto holds it; null when GetObject answers NoSuchKey. */
export async function readLock(s3: S3Client, bucket: string, envName: string): Promise<LockBody | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `locks/${envName}.json` }));
    return JSON.parse((await out.Body?.transformToString()) as string) as LockBody;
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

export interface StoredRecord {
  releaseId: string;
  status: string;
  phase?: string;
  finishedAt: string | null;
  before: { version?: string; codeSha256?: string };
  after: { version?: string; codeSha256?: string; failedVersion?: string; publishedVersion?: string };
  recovery?: { outcome: string; by: string; note: string };
  error?: string;
  warnings?: string[];
}

/** releases/<env>/lambda/<releaseId>.json as moto holds it. */
export async function readRecord(
  s3: S3Client,
  bucket: string,
  envName: string,
  releaseId: string,
): Promise<StoredRecord> {
  const out = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: `releases/${envName}/lambda/${releaseId}.json` }),
  );
  return JSON.parse(await bodyText(out)) as StoredRecord;
}

/** Every release record of the env's lambda component, oldest first. */
export async function readRecords(s3: S3Client, bucket: string, envName: string): Promise<StoredRecord[]> {
  const prefix = `releases/${envName}/lambda/`;
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  const ids = (out.Contents ?? [])
    .map((o) => (o.Key as string).slice(prefix.length).replace(/\.json$/, ""))
    .sort();
  return Promise.all(ids.map((id) => readRecord(s3, bucket, envName, id)));
}

export interface LiveCode {
  version: string;
  codeSha256: string;
}

/** What serves, read straight from moto: the alias's version and its code, or $LATEST. */
export async function readLive(
  lambda: LambdaClient,
  functionName: string,
  alias: string | null,
): Promise<LiveCode> {
  if (!alias) {
    const fn = await lambda.send(new GetFunctionCommand({ FunctionName: functionName }));
    return { version: "$LATEST", codeSha256: fn.Configuration?.CodeSha256 as string };
  }
  const a = await lambda.send(new GetAliasCommand({ FunctionName: functionName, Name: alias }));
  const fn = await lambda.send(
    new GetFunctionConfigurationCommand({ FunctionName: functionName, Qualifier: a.FunctionVersion }),
  );
  return { version: a.FunctionVersion as string, codeSha256: fn.CodeSha256 as string };
}

/** The deploy_lambda output fields these tests read. */
export interface DeployOut {
  status: string;
  codeSha256: string;
  version?: string;
  previousVersion?: string | null;
  releaseId?: string;
  failure?: string;
  live?: LiveCode | null;
  liveError?: string;
  warnings?: string[];
  undo?: { ok: boolean; result?: string; attempts: number; error?: string; fixCommand?: string };
  replacedLock?: { releaseId: string; state: string; how: string; expiresAt: string } | null;
  recovered?: Array<{ releaseId: string; outcome: string; phase: string | null }>;
}

export function outOf(result: ToolCallResult): DeployOut {
  expect(result.complete, result.text).toBe(true);
  return result.structured as unknown as DeployOut;
}

const RECORD_STATUS: Record<string, string> = {
  deployed: "succeeded",
  rolled_back: "rolled_back",
  failed: "failed",
};

/**
 * The answer agrees with what moto holds: `live` is the read-back, isError is true exactly
 * for failed/rolled_back, and the release record's final status and `after` match what is live.
 */
export function expectAgrees(result: ToolCallResult, live: LiveCode, record: StoredRecord | null): DeployOut {
  const out = outOf(result);
  expect(result.isError, result.text).toBe(out.status === "failed" || out.status === "rolled_back");
  expect(out.live, result.text).toEqual(live);
  if (record) {
    expect(record.releaseId).toBe(out.releaseId);
    expect(record.status).toBe(RECORD_STATUS[out.status]);
    expect(record.finishedAt).not.toBeNull();
    expect(record.after.codeSha256).toBe(live.codeSha256);
    if (live.version !== "$LATEST") expect(record.after.version).toBe(live.version);
  }
  return out;
}
