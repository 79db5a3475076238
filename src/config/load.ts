import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type * as z from "zod";
import { ConfigError, DeployError } from "../core/errors.js";
import { quote } from "../core/quote.js";
import { builtInDefaults, conventionalEnv } from "./defaults.js";
import { deepMerge, isPlainObject } from "./merge.js";
import { type ConfigSource, protectionReasons, withProtection } from "./protection.js";
import { type Config, configSchema, type EnvConfig } from "./schema.js";

export const CONFIG_FILE_NAME = "deploy.config.json";

export interface LoadedConfig {
  config: Config;
  /** The file the config came from, or null when only built-in defaults apply. */
  path: string | null;
  /** The app repository root: the config's folder, else CLAUDE_PROJECT_DIR, else the cwd. */
  appRoot: string;
}

export interface LoadConfigOptions {
  /** Explicit path (--config); wins over VYAPARAI_DEPLOY_CONFIG and discovery. */
  configPath?: string | undefined;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Walks from `start` upward to the filesystem root looking for deploy.config.json. */
export function findConfigUpward(start: string): string | null {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, CONFIG_FILE_NAME);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.configPath ?? env.VYAPARAI_DEPLOY_CONFIG;
  let path: string | null;
  if (explicit) {
    path = resolve(cwd, explicit);
    if (!existsSync(path)) {
      throw new ConfigError(
        `Config file ${path} does not exist (from ${options.configPath ? "--config" : "VYAPARAI_DEPLOY_CONFIG"}). Fix the path or remove the setting to use discovery.`,
      );
    }
  } else {
    path =
      findConfigUpward(env.CLAUDE_PROJECT_DIR ?? cwd) ??
      (env.CLAUDE_PROJECT_DIR ? findConfigUpward(cwd) : null);
  }
  const fileValue = path ? readConfigFile(path) : {};
  // Safety: a config named by --config or VYAPARAI_DEPLOY_CONFIG may lie outside the app
  // repo; the repo's own config still raises protection (it can never be lowered that way).
  const repoPath = explicit
    ? (findConfigUpward(env.CLAUDE_PROJECT_DIR ?? cwd) ??
      (env.CLAUDE_PROJECT_DIR ? findConfigUpward(cwd) : null))
    : null;
  const alsoFrom: ConfigSource[] =
    repoPath && path && resolve(repoPath) !== resolve(path)
      ? [{ label: repoPath, config: parseConfig(readConfigFile(repoPath), repoPath) }]
      : [];
  const config = parseConfig(fileValue, path ?? "built-in defaults", alsoFrom);
  const appRoot = path ? dirname(path) : resolve(env.CLAUDE_PROJECT_DIR ?? cwd);
  return { config, path, appRoot };
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${path}: ${(error as Error).message}.`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `Config file ${path} is not valid JSON: ${(error as Error).message}. Fix the syntax.`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Merges a file's value over the built-in defaults and validates the result. An env that the
 * defaults do not know starts from the naming convention for its name (unprotected).
 */
export function parseConfig(
  fileValue: unknown,
  source = "config",
  alsoFrom: readonly ConfigSource[] = [],
): Config {
  const config = parseWithoutProtection(fileValue, source);
  const sources: ConfigSource[] = [
    { label: "the built-in defaults", config: builtInConfig() },
    { label: source, config },
    ...alsoFrom,
  ];
  return withProtection(config, protectionReasons(config, sources));
}

let parsedDefaults: Config | undefined;

/** The built-in defaults, validated once per process: they never change while it runs. */
function builtInConfig(): Config {
  parsedDefaults ??= parseWithoutProtection({}, "built-in defaults");
  return parsedDefaults;
}

function parseWithoutProtection(fileValue: unknown, source: string): Config {
  if (!isPlainObject(fileValue)) throw new ConfigError(`${source}: the top level must be a JSON object.`);
  const defaults = builtInDefaults();
  const fileEnvs = fileValue.environments;
  if (fileEnvs !== undefined && isPlainObject(fileEnvs)) {
    const defaultEnvs = defaults.environments as Record<string, unknown>;
    for (const name of Object.keys(fileEnvs)) {
      if (!Object.hasOwn(defaultEnvs, name)) defaultEnvs[name] = conventionalEnv(name, false);
    }
  }
  const merged = deepMerge(defaults, fileValue);
  const result = configSchema.safeParse(merged, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(result.error, source));
  return result.data;
}

export function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.slice(0, 10).map((issue) => {
    const key = issue.path.length ? issue.path.map(String).join(".") : "(top level)";
    return `- ${key}: ${describeIssue(issue)}`;
  });
  const more = error.issues.length > 10 ? `\n- …and ${error.issues.length - 10} more` : "";
  return `Invalid configuration in ${source}:\n${lines.join("\n")}${more}`;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "unrecognized_keys":
      return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}; remove ${issue.keys.length > 1 ? "them" : "it"} or check the spelling against schema/deploy.config.schema.json.`;
    case "invalid_type":
      return `expected ${issue.expected}, got ${issue.input === undefined ? "nothing" : describeValue(issue.input)}; set it to a ${issue.expected}.`;
    default:
      return `${issue.message}.`;
  }
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

/** How much of an unknown env name an error quotes. */
const ENV_QUOTE_CHARS = 40;

/**
 * Resolves an env by name with an error that names the configured envs. Only an own key of
 * `environments` is an env: `constructor`, `__proto__` or `toString` are unknown envs, not
 * something inherited from Object.prototype.
 */
export function resolveEnv(config: Config, name: string): EnvConfig {
  const envs = config.environments;
  const envConfig = typeof name === "string" && Object.hasOwn(envs, name) ? envs[name] : undefined;
  if (!envConfig) {
    const known = Object.keys(envs).sort().join(", ");
    const shown = quoteName(String(name));
    const fits = typeof name === "string" && /^[a-z][a-z0-9-]*$/.test(name) && name.length <= ENV_QUOTE_CHARS;
    const fix = fits
      ? `Pass one of them, or add "${shown}" under "environments" in ${CONFIG_FILE_NAME}.`
      : "Pass one of them.";
    throw new DeployError("UNKNOWN_ENV", `Unknown env "${shown}". Configured envs: ${known}. ${fix}`);
  }
  return envConfig;
}

function quoteName(name: string): string {
  return quote(name, ENV_QUOTE_CHARS, /["\\]/g);
}
