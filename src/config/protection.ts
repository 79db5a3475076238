import type { Config, EnvConfig } from "./schema.js";

/**
 * Protection lives with the resources, not only with a flag. An env is protected when any
 * source of configuration says so (the built-in defaults, the app repo's own config, the file
 * in use), or when one of its targets — the function, a site bucket, the distribution, the
 * Terraform state object — is a target of a protected env in any of those sources. Sources
 * can only raise protection: a `protected: false`, a config outside the repo or a new env
 * pointing at prod's resources cannot lower it. (Tags on the resources raise it further at
 * call time, see release/protection-tags.ts.)
 */

/** One place configuration comes from, with the name a person knows it by. */
export interface ConfigSource {
  label: string;
  config: Config;
}

interface Target {
  kind: "function" | "site bucket" | "distribution" | "terraform state";
  /** Normalised so that an ARN and a bare name of the same function compare equal. */
  id: string;
  /** As configured, for the reason text (names from the config are the server's words). */
  shown: string;
}

interface ProtectedTarget extends Target {
  env: string;
  label: string;
}

/** The resources a guarded call on `env` changes. */
export function targetsOf(env: EnvConfig): Target[] {
  const targets: Target[] = [];
  const fn = env.lambda.functionName;
  // "arn:aws:lambda:ap-south-1:123:function:name[:qualifier]" and "name" are the same function.
  const fnName = fn.startsWith("arn:") ? (fn.split(":")[6] ?? fn) : fn;
  targets.push({ kind: "function", id: `${env.region}/${fnName}`, shown: fnName });
  for (const bucket of env.frontend.buckets) targets.push({ kind: "site bucket", id: bucket, shown: bucket });
  if (env.frontend.distributionId) {
    const id = env.frontend.distributionId;
    targets.push({ kind: "distribution", id, shown: id });
  }
  const { bucket, key } = env.terraform.backendConfig;
  if (bucket && key) {
    targets.push({ kind: "terraform state", id: `${bucket}/${key}`, shown: `s3://${bucket}/${key}` });
  }
  return targets;
}

/**
 * Why each env of `config` is protected (an empty list: it is not), from every source. Runs to
 * a fixed point: an env protected through a shared target protects its own targets in turn.
 */
export function protectionReasons(config: Config, sources: readonly ConfigSource[]): Map<string, string[]> {
  const reasons = new Map<string, string[]>();
  const protectedTargets: ProtectedTarget[] = [];
  const addReason = (env: string, reason: string) => {
    const list = reasons.get(env) ?? [];
    if (!list.includes(reason)) list.push(reason);
    reasons.set(env, list);
  };
  for (const name of Object.keys(config.environments)) reasons.set(name, []);
  for (const source of sources) {
    for (const [name, env] of Object.entries(source.config.environments)) {
      if (!env.protected) continue;
      if (Object.hasOwn(config.environments, name)) addReason(name, `protected in ${source.label}`);
      for (const target of targetsOf(env))
        protectedTargets.push({ ...target, env: name, label: source.label });
    }
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, env] of Object.entries(config.environments)) {
      const wasProtected = (reasons.get(name)?.length ?? 0) > 0;
      for (const target of targetsOf(env)) {
        const owner = protectedTargets.find(
          (p) => p.env !== name && p.kind === target.kind && p.id === target.id,
        );
        if (owner) {
          addReason(
            name,
            `its ${target.kind} ${target.shown} is a target of protected env "${owner.env}" (${owner.label})`,
          );
        }
      }
      if (!wasProtected && (reasons.get(name)?.length ?? 0) > 0) {
        // Newly protected: its own targets now protect whatever else points at them.
        for (const own of targetsOf(env)) protectedTargets.push({ ...own, env: name, label: "this config" });
        changed = true;
      }
    }
  }
  return reasons;
}

/** The reasons computed when a config was loaded, kept beside it (the schema has no field for them). */
const REASONS = new WeakMap<Config, Map<string, string[]>>();

/** `config` with every env's `protected` raised by `reasons` (never lowered). */
export function withProtection(config: Config, reasons: Map<string, string[]>): Config {
  const environments = Object.fromEntries(
    Object.entries(config.environments).map(([name, env]) => [
      name,
      { ...env, protected: env.protected || (reasons.get(name)?.length ?? 0) > 0 },
    ]),
  );
  const raised = { ...config, environments };
  REASONS.set(raised, reasons);
  return raised;
}

/** Why `envName` is protected, in the server's words (names from the config); empty when not. */
export function protectionReasonsFor(config: Config, envName: string): string[] {
  return REASONS.get(config)?.get(envName) ?? [];
}
