import { type LoadedConfig, loadConfig, parseConfig } from "../config/load.js";
import { ConfigError } from "../core/errors.js";
import { allTools } from "../tools/index.js";
import { selectTools } from "./registry.js";
import { createRuntime, type Runtime } from "./runtime.js";

/**
 * What the server and the CLI both do before the first call: decide read-only mode, load the
 * config (a broken one is kept as an error every call answers with, so the person sees it in
 * the client instead of a bare "failed to connect"), and describe the result in one line.
 */

export const READ_ONLY_ENV = "VYAPARAI_DEPLOY_READ_ONLY";

export interface ReadOnlyFlag {
  on: boolean;
  /** Where it came from, in words for the start-up line and refusals. */
  source: string | null;
  /** Set when the env var held a value that is neither on nor off (taken as on). */
  warning: string | null;
}

const ON = new Set(["1", "true", "yes", "on"]);
const OFF = new Set(["", "0", "false", "no", "off"]);

/** `--read-only`, VYAPARAI_DEPLOY_READ_ONLY or `readOnly: true` in the config: any one turns it on. */
export function readOnlyFrom(input: {
  flag: boolean;
  env: NodeJS.ProcessEnv;
  config: boolean;
}): ReadOnlyFlag {
  const raw = (input.env[READ_ONLY_ENV] ?? "").trim().toLowerCase();
  const envOn = ON.has(raw);
  // Safety: a value that is neither on nor off turns read-only on; a typo never unlocks changes.
  const unknown = !envOn && !OFF.has(raw);
  const warning = unknown
    ? `${READ_ONLY_ENV} must be 1/true/yes or 0/false/no; its value was not recognised, so read-only mode is on.`
    : null;
  if (input.flag) return { on: true, source: "--read-only", warning };
  if (envOn || unknown) return { on: true, source: READ_ONLY_ENV, warning };
  if (input.config) return { on: true, source: "readOnly in the config", warning };
  return { on: false, source: null, warning };
}

export interface Started {
  runtime: Runtime;
  readOnly: ReadOnlyFlag;
}

export function startRuntime(input: {
  configPath: string | undefined;
  readOnlyFlag: boolean;
  env?: NodeJS.ProcessEnv;
}): Started {
  const env = input.env ?? process.env;
  let loaded: LoadedConfig;
  let configError: ConfigError | null = null;
  try {
    loaded = loadConfig({ configPath: input.configPath, env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    configError = error;
    // The defaults only fill the type: every call answers with configError before using them.
    loaded = { config: parseConfig({}, "built-in defaults"), path: null, appRoot: process.cwd() };
  }
  let runtime: Runtime;
  try {
    runtime = createRuntime({ loaded, configError, env, secretSource: "user" });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    runtime = createRuntime({ loaded, configError: configError ?? error, env, secretSource: "process" });
  }
  const readOnly = readOnlyFrom({
    flag: input.readOnlyFlag,
    env,
    config: configError === null && loaded.config.readOnly,
  });
  return { runtime, readOnly };
}

/** One line for stderr at start: mode, config file, envs. Never secrets, never the token. */
export function startupLine(program: string, started: Started): string {
  const { runtime, readOnly } = started;
  const tools = selectTools(allTools, { readOnly: readOnly.on }).length;
  const mode = readOnly.on ? `read-only (${readOnly.source}), ${tools} tools` : `all ${tools} tools`;
  if (runtime.configError) {
    return `${program}: ${mode}; CONFIG ERROR, every tool call answers with it:\n${runtime.configError.message}`;
  }
  const { config, path, appRoot } = runtime.loaded;
  const envs = Object.entries(config.environments)
    .map(([name, env]) => (env.protected ? `${name} (protected)` : name))
    .join(", ");
  const source = path
    ? `config ${path}`
    : `no deploy.config.json found from ${appRoot}: built-in defaults with VyapaarAI's real resource names`;
  return `${program}: ${mode}; ${source}; envs ${envs}`;
}
