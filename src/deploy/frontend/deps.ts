import type { CloudFrontClient } from "@aws-sdk/client-cloudfront";
import type { S3Client } from "@aws-sdk/client-s3";
import type { EnvConfig, FrontendConfig } from "../../config/schema.js";
import type { Clock, ProgressReporter } from "../../core/context.js";
import type { CommandRunner } from "../../core/run-command.js";

/** What the frontend release code uses: its clients, the env and config, a runner, a clock. */
export interface FrontendDeps {
  s3: S3Client;
  cloudFront: () => Promise<CloudFrontClient>;
  envName: string;
  env: EnvConfig;
  frontend: FrontendConfig;
  appRoot: string;
  run: CommandRunner;
  signal: AbortSignal;
  now: Clock;
  progress: ProgressReporter;
}
