import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import type { S3Client } from "@aws-sdk/client-s3";
import type { EnvConfig } from "../../config/schema.js";
import type { Clock, ProgressReporter } from "../../core/context.js";

/**
 * Fetches a function's code from the presigned URL GetFunction returns in Code.Location and
 * resolves with the zip's bytes; rejects on any failure (HTTP status, size bound, timeout).
 */
export type CodeDownloader = (url: string, signal: AbortSignal) => Promise<Uint8Array>;

/** What the Lambda release code uses: its clients, the env, a clock and progress; nothing more. */
export interface LambdaDeps {
  lambda: LambdaClient;
  s3: S3Client;
  /** Null skips the error-log excerpt of a rolled-back release. */
  logs: (() => Promise<CloudWatchLogsClient>) | null;
  envName: string;
  env: EnvConfig;
  signal: AbortSignal;
  now: Clock;
  progress: ProgressReporter;
  /** Health gate shape; the defaults suit a real API behind API Gateway. */
  healthAttempts?: number;
  healthIntervalMs?: number;
  conflictRetryMinMs?: number;
  /** How the code live before a $LATEST deploy is downloaded to be kept; default: fetch (artifact.ts). */
  downloadCode?: CodeDownloader;
}

/** Test and benchmark knobs; the tools use the defaults. */
export type LambdaTuning = Pick<
  LambdaDeps,
  "healthAttempts" | "healthIntervalMs" | "conflictRetryMinMs" | "downloadCode"
>;
