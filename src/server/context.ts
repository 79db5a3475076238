import { randomBytes } from "node:crypto";
import { type AwsClients, clientSettingsFor, createAwsClients } from "../aws/clients.js";
import { mapAwsError } from "../aws/errors.js";
import { type LoadedConfig, resolveEnv } from "../config/load.js";
import type { Config, EnvConfig } from "../config/schema.js";
import { type CommandRunner, runCommand } from "../process/run.js";
import type { StoredPreflight } from "../safety/preflight-store.js";

export type LogLevel = "debug" | "info" | "notice" | "warning" | "error";

export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
}

/** What a person is asked before a protected mutation (form elicitation). */
export interface ApprovalRequest {
  message: string;
}
export type ApprovalAnswer = "accept" | "decline" | "cancel";

/**
 * Process-wide state of one server or CLI run. Nothing here is module-level: a test makes
 * as many runtimes as it wants.
 */
export interface Runtime {
  readonly loaded: LoadedConfig;
  /** HMAC key for confirmation tokens: VYAPARAI_DEPLOY_SECRET or random per process. */
  readonly tokenSecret: Buffer;
  /** Nonces of confirmation tokens already used by this process (see safety/tokens). */
  readonly usedTokenNonces: Set<string>;
  readonly now: () => Date;
  readonly run: CommandRunner;
  clientsFor(envName: string): AwsClients;
  identityFor(envName: string): Promise<CallerIdentity>;
  /** Passing preflights by env, kept in memory (and on disk by safety/preflight-store). */
  readonly preflights: Map<string, StoredPreflight>;
  close(): void;
}

export interface RuntimeOptions {
  loaded: LoadedConfig;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
  run?: CommandRunner;
  /** Test hook: build clients differently (e.g. an explicit endpoint). */
  makeClients?: (envConfig: EnvConfig) => AwsClients;
}

export function createRuntime(options: RuntimeOptions): Runtime {
  const env = options.env ?? process.env;
  const secretText = env.VYAPARAI_DEPLOY_SECRET;
  const tokenSecret = secretText ? Buffer.from(secretText, "utf8") : randomBytes(32);
  const clients = new Map<string, AwsClients>();
  const identities = new Map<string, Promise<CallerIdentity>>();
  const makeClients =
    options.makeClients ?? ((envConfig: EnvConfig) => createAwsClients(clientSettingsFor(envConfig, env)));
  const runtime: Runtime = {
    loaded: options.loaded,
    tokenSecret,
    usedTokenNonces: new Set(),
    now: options.now ?? (() => new Date()),
    run: options.run ?? runCommand,
    preflights: new Map(),
    clientsFor(envName) {
      let existing = clients.get(envName);
      if (!existing) {
        existing = makeClients(resolveEnv(options.loaded.config, envName));
        clients.set(envName, existing);
      }
      return existing;
    },
    identityFor(envName) {
      let pending = identities.get(envName);
      if (!pending) {
        pending = fetchIdentity(runtime.clientsFor(envName));
        // A failed lookup (expired credentials) must not be cached for the whole session.
        pending.catch(() => identities.delete(envName));
        identities.set(envName, pending);
      }
      return pending;
    },
    close() {
      for (const c of clients.values()) c.destroy();
      clients.clear();
    },
  };
  return runtime;
}

async function fetchIdentity(aws: AwsClients): Promise<CallerIdentity> {
  const { GetCallerIdentityCommand } = await import("@aws-sdk/client-sts");
  try {
    const out = await (await aws.sts()).send(new GetCallerIdentityCommand({}));
    return { account: out.Account ?? "", arn: out.Arn ?? "", userId: out.UserId ?? "" };
  } catch (error) {
    throw mapAwsError(error, "sts:GetCallerIdentity");
  }
}

export type ProgressReporter = (message: string, progress?: number, total?: number) => void;

/** Everything a tool handler may use. Built per call by the invocation wrapper. */
export interface ToolContext {
  readonly toolName: string;
  readonly envName: string;
  readonly env: EnvConfig;
  readonly config: Config;
  readonly appRoot: string;
  readonly runtime: Runtime;
  readonly aws: AwsClients;
  readonly signal: AbortSignal;
  readonly progress: ProgressReporter;
  readonly log: (level: LogLevel, message: string) => void;
  /** Asks a person (MCP form elicitation); null when the client cannot ask. */
  readonly askPerson: ((request: ApprovalRequest) => Promise<ApprovalAnswer>) | null;
  readonly now: () => Date;
  readonly run: CommandRunner;
  identity(): Promise<CallerIdentity>;
}
