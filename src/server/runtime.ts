import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import {
  type AwsClients,
  clientSettingsFor,
  createAwsClients,
  type TemporaryCredentials,
} from "../aws/clients.js";
import { mapAwsError } from "../aws/errors.js";
import { type LoadedConfig, resolveEnv } from "../config/load.js";
import type { EnvConfig } from "../config/schema.js";
import type { CallerIdentity, Clock, SessionState, TokenSigner } from "../core/context.js";
import type { ConfigError } from "../core/errors.js";
import { type CommandRunner, runCommand } from "../core/run-command.js";
import { userSecret } from "./user-secret.js";

/**
 * Process-wide state of one server or CLI run. Nothing here is module-level: a test makes
 * as many runtimes as it wants. The token secret stays inside `signer`'s closure.
 */
export interface Runtime {
  readonly loaded: LoadedConfig;
  /**
   * Set when the config file could not be loaded: the server still starts and lists its
   * tools, and every call answers with this error (key, problem, fix). `loaded` is then the
   * built-in defaults, which no call uses.
   */
  readonly configError: ConfigError | null;
  readonly signer: TokenSigner;
  readonly session: SessionState;
  readonly now: Clock;
  readonly run: CommandRunner;
  clientsFor(envName: string): AwsClients;
  /** Fresh clients for one release with fixed credentials (an assumed deploy role's); the caller destroys them. */
  clientsWithCredentials(envName: string, credentials: TemporaryCredentials): AwsClients;
  identityFor(envName: string): Promise<CallerIdentity>;
  close(): void;
}

export interface RuntimeOptions {
  loaded: LoadedConfig;
  configError?: ConfigError | null;
  /**
   * Where the token secret comes from when VYAPARAI_DEPLOY_SECRET is unset: "process" (a random
   * one per process; tests) or "user" (the per-user secret file, so a CLI's second step and a
   * server trust each other's tokens and preflights).
   */
  secretSource?: "process" | "user";
  env?: NodeJS.ProcessEnv;
  now?: Clock;
  run?: CommandRunner;
  /** Test hook: build clients differently (e.g. an explicit endpoint). */
  makeClients?: (envConfig: EnvConfig, credentials?: TemporaryCredentials) => AwsClients;
}

export function createRuntime(options: RuntimeOptions): Runtime {
  const env = options.env ?? process.env;
  const secretText = env.VYAPARAI_DEPLOY_SECRET;
  const secret = secretText
    ? Buffer.from(secretText, "utf8")
    : options.secretSource === "user"
      ? userSecret(env)
      : randomBytes(32);
  const clients = new Map<string, AwsClients>();
  const identities = new Map<string, Promise<CallerIdentity>>();
  const makeClients =
    options.makeClients ??
    ((envConfig: EnvConfig, credentials?: TemporaryCredentials) =>
      createAwsClients({
        ...clientSettingsFor(envConfig, env, options.loaded.config.release.requestTimeoutSeconds * 1000),
        credentials,
      }));
  const runtime: Runtime = {
    loaded: options.loaded,
    configError: options.configError ?? null,
    signer: tokenSigner(secret),
    session: { usedTokenNonces: new Set(), preflights: new Map(), background: new Set() },
    now: options.now ?? (() => new Date()),
    run: options.run ?? runCommand,
    clientsFor(envName) {
      let existing = clients.get(envName);
      if (!existing) {
        existing = makeClients(resolveEnv(options.loaded.config, envName));
        clients.set(envName, existing);
      }
      return existing;
    },
    clientsWithCredentials(envName, credentials) {
      return makeClients(resolveEnv(options.loaded.config, envName), credentials);
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

/** HMAC-SHA256 with a key only this closure holds. */
function tokenSigner(secret: Buffer): TokenSigner {
  const mac = (body: string) => createHmac("sha256", secret).update(body, "utf8").digest();
  return {
    sign: (body) => mac(body).toString("base64url"),
    verify(body, given) {
      const expected = mac(body);
      const actual = Buffer.from(given, "base64url");
      // Safety: constant-time comparison, so the mac cannot be guessed byte by byte.
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}

export async function fetchIdentity(aws: AwsClients): Promise<CallerIdentity> {
  const { GetCallerIdentityCommand } = await import("@aws-sdk/client-sts");
  try {
    const out = await (await aws.sts()).send(new GetCallerIdentityCommand({}));
    return { account: out.Account ?? "", arn: out.Arn ?? "", userId: out.UserId ?? "" };
  } catch (error) {
    throw mapAwsError(error, "sts:GetCallerIdentity");
  }
}
