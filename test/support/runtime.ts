import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAwsClients } from "../../src/aws/clients.js";
import { CONFIG_FILE_NAME, loadConfig, resolveEnv } from "../../src/config/load.js";
import type { ToolContext } from "../../src/release/context.js";
import { createRuntime, type Runtime, type RuntimeOptions } from "../../src/server/runtime.js";
import type { Moto } from "./moto.js";

export interface TestRuntimeOptions {
  moto: Moto;
  /** deploy.config.json content written into the app root. */
  config?: Record<string, unknown>;
  /** App root folder; a fresh temp dir when omitted. */
  appRoot?: string;
  now?: RuntimeOptions["now"];
  run?: RuntimeOptions["run"];
  secret?: string;
  /** Another endpoint than moto's own (a fault proxy in front of it). */
  endpoint?: string;
}

/** A runtime whose AWS clients talk to the given moto, with a config file in a temp app root. */
export function testRuntime(options: TestRuntimeOptions): Runtime {
  const appRoot = options.appRoot ?? mkdtempSync(join(tmpdir(), "vyaparai-app-"));
  writeFileSync(join(appRoot, CONFIG_FILE_NAME), JSON.stringify(options.config ?? {}, null, 2));
  const loaded = loadConfig({ cwd: appRoot, env: {} });
  return createRuntime({
    loaded,
    env: options.secret ? { VYAPARAI_DEPLOY_SECRET: options.secret } : {},
    ...(options.now ? { now: options.now } : {}),
    ...(options.run ? { run: options.run } : {}),
    // Credentials pass through: a deploy role's assumed ones must reach the emulator as sent.
    makeClients: (envConfig, credentials) =>
      createAwsClients({
        region: envConfig.region,
        endpoint: options.endpoint ?? options.moto.endpoint,
        credentials,
      }),
  });
}

export interface ArtifactBucketRuntimeOptions extends Omit<TestRuntimeOptions, "config"> {
  /** The artifact bucket every env keeps its locks, tokens, preflights and records in. */
  bucket: string;
  /** Envs to configure (prod is protected by default). */
  envs?: string[];
  /** Further top-level config keys. */
  config?: Record<string, unknown>;
}

/** A runtime whose envs (prod by default) all use one artifact bucket on moto: what the safety code needs. */
export function artifactBucketRuntime(options: ArtifactBucketRuntimeOptions): Runtime {
  const { bucket, envs = ["prod"], config = {}, ...rest } = options;
  return testRuntime({
    ...rest,
    config: {
      environments: Object.fromEntries(envs.map((env) => [env, { lambda: { artifactBucket: bucket } }])),
      ...config,
    },
  });
}

/**
 * A ToolContext for calling domain code directly, wired to the runtime as invokeTool wires it
 * (without its redaction, which these callers do not exercise). `over` replaces any field.
 */
export function toolContextFor(runtime: Runtime, over: Partial<ToolContext> = {}): ToolContext {
  const { config, appRoot } = runtime.loaded;
  const envName = over.envName ?? "prod";
  return {
    toolName: "deploy_lambda",
    envName,
    env: resolveEnv(config, envName),
    config,
    appRoot,
    configPath: runtime.loaded.path,
    outlivesAnswer: true,
    aws: runtime.clientsFor(envName),
    signal: new AbortController().signal,
    progress: () => {},
    log: () => {},
    askPerson: null,
    now: runtime.now,
    run: runtime.run,
    tokens: runtime.signer,
    session: runtime.session,
    identity: () => runtime.identityFor(envName),
    ...over,
  };
}

export { markPreflightPassed } from "./preflight-pass.js";
