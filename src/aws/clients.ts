import type { CloudFrontClient } from "@aws-sdk/client-cloudfront";
import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import type { S3Client } from "@aws-sdk/client-s3";
import type { STSClient } from "@aws-sdk/client-sts";
import type { EnvConfig } from "../config/schema.js";

/**
 * The AWS clients of one env. Each is created on first use: importing an SDK client costs
 * ~60-80 ms, and a server answering `tools/list` should pay for none of them.
 * Domain code takes this object (or single clients) as a parameter, so tests can pass
 * clients pointed at the emulator or mocked ones.
 */
export interface AwsClients {
  readonly region: string;
  lambda(): Promise<LambdaClient>;
  s3(): Promise<S3Client>;
  cloudFront(): Promise<CloudFrontClient>;
  logs(): Promise<CloudWatchLogsClient>;
  dynamoDb(): Promise<DynamoDBClient>;
  sts(): Promise<STSClient>;
  /** Destroys every client created so far (closes sockets). */
  destroy(): void;
}

export interface ClientSettings {
  region: string;
  profile?: string | undefined;
  /** Override for all services (tests); otherwise the SDK reads AWS_ENDPOINT_URL[_<SERVICE>]. */
  endpoint?: string | undefined;
  maxAttempts?: number;
  /** An answer that does not come within this is abandoned (and retried by the SDK). */
  requestTimeoutMs?: number;
  /** Fixed credentials (an assumed deploy role's); otherwise the SDK's default chain. */
  credentials?: TemporaryCredentials | undefined;
}

/** Credentials from sts:AssumeRole: held in memory for one release, never written anywhere. */
export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration?: Date;
}

/** Default bound on one unanswered AWS request (config release.requestTimeoutSeconds overrides). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;

/** True when some endpoint override is in force, i.e. we talk to an emulator or a proxy. */
export function hasEndpointOverride(env: NodeJS.ProcessEnv = process.env): boolean {
  return Object.keys(env).some((key) => key === "AWS_ENDPOINT_URL" || key.startsWith("AWS_ENDPOINT_URL_"));
}

export function clientSettingsFor(
  envConfig: EnvConfig,
  env: NodeJS.ProcessEnv = process.env,
  requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
): ClientSettings {
  // An explicit AWS_PROFILE wins over the config's profile, as with the AWS CLI.
  const profile = env.AWS_PROFILE ? undefined : (envConfig.profile ?? undefined);
  return { region: envConfig.region, profile, requestTimeoutMs };
}

export function createAwsClients(settings: ClientSettings): AwsClients {
  const created: Array<{ destroy(): void }> = [];
  const base = {
    region: settings.region,
    maxAttempts: settings.maxAttempts ?? 4,
    // Safety: without these a request that is never answered holds a deploy (and its lock) for
    // minutes. socketTimeout is what ends such a request (requestTimeout alone only logs a
    // warning in @smithy/node-http-handler 4.x); it is an idle time, so a long upload that
    // moves is fine.
    requestHandler: {
      connectionTimeout: 5_000,
      requestTimeout: settings.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      socketTimeout: settings.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    },
    ...(settings.credentials
      ? { credentials: settings.credentials }
      : settings.profile
        ? { profile: settings.profile }
        : {}),
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
  };
  function memo<T extends { destroy(): void }>(make: () => Promise<T>): () => Promise<T> {
    let pending: Promise<T> | undefined;
    return () => {
      pending ??= make().then((client) => {
        created.push(client);
        return client;
      });
      return pending;
    };
  }
  return {
    region: settings.region,
    lambda: memo(async () => new (await import("@aws-sdk/client-lambda")).LambdaClient(base)),
    s3: memo(async () => {
      const { S3Client } = await import("@aws-sdk/client-s3");
      // Emulators and proxies serve buckets by path, not by virtual host.
      const forcePathStyle = Boolean(settings.endpoint) || hasEndpointOverride();
      return new S3Client({ ...base, forcePathStyle });
    }),
    cloudFront: memo(async () => new (await import("@aws-sdk/client-cloudfront")).CloudFrontClient(base)),
    logs: memo(async () => new (await import("@aws-sdk/client-cloudwatch-logs")).CloudWatchLogsClient(base)),
    dynamoDb: memo(async () => new (await import("@aws-sdk/client-dynamodb")).DynamoDBClient(base)),
    sts: memo(async () => new (await import("@aws-sdk/client-sts")).STSClient(base)),
    destroy() {
      for (const client of created.splice(0)) client.destroy();
    },
  };
}
