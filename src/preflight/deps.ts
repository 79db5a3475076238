import type { AwsClients } from "../aws/clients.js";
import type { Config, EnvConfig } from "../config/schema.js";
import type { CallerIdentity, Clock, ProgressReporter, StoredPreflight } from "../core/context.js";
import type { CommandRunner } from "../core/run-command.js";

/**
 * What preflight uses, and nothing more: the env, the parts of the config it reads, the
 * app root, the AWS clients (lazy getters), the command runner, a clock, the call's signal
 * and progress, who the caller is, and where a finished preflight is kept for the
 * tests-first gate. The preflight tool builds it from one call's context; tests build it
 * directly. Each check takes a Pick of it naming exactly the fields it reads.
 */
export interface PreflightDeps {
  envName: string;
  env: EnvConfig;
  /** backend/frontend: test commands and folders; release: the lock TTL; the gate's max age. */
  config: Pick<Config, "backend" | "frontend" | "release" | "preflightMaxAgeMinutes">;
  appRoot: string;
  /** The config file in use; null when only the built-in defaults apply (preflight warns). */
  configPath?: string | null;
  /** Only `region` and the getters of the clients a check needs are used. */
  aws: AwsClients;
  run: CommandRunner;
  now: Clock;
  signal: AbortSignal;
  progress: ProgressReporter;
  /** sts:GetCallerIdentity of the env's credentials. */
  identity(): Promise<CallerIdentity>;
  /** Keeps the result where the tests-first gate looks (session memory and the git dir). */
  recordPreflight(result: StoredPreflight): Promise<void>;
  /**
   * Reads the backend tree the Lambda package would hold and checks it against git HEAD (the
   * tools layer passes deploy/lambda's inspector); absent, the backend tree is not recorded.
   */
  inspectBackendTree?: () => Promise<InspectedTree>;
}

/** What preflight needs to know of the backend tree it tests. */
export interface InspectedTree {
  digest: string;
  files: number;
  /** `path` is the repo's text (evidence only); `fix` is the server's words. */
  problems: ReadonlyArray<{ kind: string; path: string; fix: string }>;
}
