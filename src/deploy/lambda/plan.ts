import type { S3Client } from "@aws-sdk/client-s3";
import type * as z from "zod";
import type { EnvConfig } from "../../config/schema.js";
import type { ReleaseRecord } from "../../release/types.js";
import { artifactExists, artifactKeyFor, artifactKeyForCodeSha256 } from "./artifact.js";
import type { LiveLambdaCode } from "./code.js";
import type { LambdaPackage } from "./package.js";
import type {
  lambdaCanaryPlanSchema,
  lambdaDeployPlanSchema,
  lambdaPlanDetailsSchema,
  lambdaRollbackPathSchema,
} from "./plan-schema.js";

export type LambdaRollbackPath = z.infer<typeof lambdaRollbackPathSchema>;
export type LambdaDeployPlan = z.infer<typeof lambdaDeployPlanSchema>;
export type LambdaPlanDetails = z.infer<typeof lambdaPlanDetailsSchema>;
export type LambdaCanaryPlan = z.infer<typeof lambdaCanaryPlanSchema>;

const MAX_LISTED_FILES = 50;

export interface PlanLambdaDeployInput {
  env: EnvConfig;
  pkg: LambdaPackage;
  live: LiveLambdaCode;
  /** Newest first (listReleaseRecords). */
  records: ReleaseRecord[];
  s3: S3Client;
  force: boolean;
  /** The checked tree's digest (tree.ts), bound into the plan a token confirms. */
  treeDigest: string;
  /** Strategy canary: the share, the bake and the thresholds (alias mode only). */
  canary?: LambdaCanaryPlan | undefined;
}

export async function planLambdaDeploy(
  input: PlanLambdaDeployInput,
): Promise<{ plan: LambdaDeployPlan; details: LambdaPlanDetails }> {
  const { env, pkg, live, s3 } = input;
  const { artifactBucket, artifactPrefix } = env.lambda;
  const artifactKey = artifactKeyFor(artifactPrefix, pkg.sha256Hex);
  const unchanged = live.codeSha256 === pkg.codeSha256;
  const reference = manifestReference(input.records, live.codeSha256);
  const diff = diffManifest(reference?.manifest ?? null, pkg);
  // A no-op must stay cheap: no HEADs when nothing will be uploaded or switched.
  const [uploadNeeded, rollback] =
    unchanged && !input.force
      ? [false, null]
      : await Promise.all([
          artifactExists(s3, artifactBucket, artifactKey).then((exists) => !exists),
          rollbackPath(env, live, s3),
        ]);
  const plan: LambdaDeployPlan = {
    component: "lambda",
    functionName: live.functionName,
    alias: live.alias,
    fromVersion: live.version,
    fromCodeSha256: live.codeSha256,
    codeSha256: pkg.codeSha256,
    artifactBucket,
    artifactKey,
    files: pkg.entries.length,
    bytes: pkg.bytes,
    unzippedBytes: pkg.unzippedBytes,
    treeDigest: input.treeDigest,
    fileChanges: {
      added: diff.added.length,
      removed: diff.removed.length,
      changed: diff.changed.length,
      comparedWith: reference?.releaseId ?? null,
    },
    rollback,
    force: input.force,
    ...(input.canary ? { canary: input.canary } : {}),
  };
  const details: LambdaPlanDetails = {
    unchanged,
    uploadNeeded,
    added: diff.added.slice(0, MAX_LISTED_FILES),
    removed: diff.removed.slice(0, MAX_LISTED_FILES),
    changed: diff.changed.slice(0, MAX_LISTED_FILES),
  };
  return { plan, details };
}

async function rollbackPath(env: EnvConfig, live: LiveLambdaCode, s3: S3Client): Promise<LambdaRollbackPath> {
  if (live.alias) return { mode: "alias", version: live.version };
  const artifactKey = artifactKeyForCodeSha256(env.lambda.artifactPrefix, live.codeSha256);
  const exists = await artifactExists(s3, env.lambda.artifactBucket, artifactKey);
  return { mode: "artifact", artifactKey, saveFromLambda: !exists };
}

/**
 * The release to compare files with: the newest successful one whose code is live now, else
 * the newest successful one with a manifest.
 */
function manifestReference(
  records: ReleaseRecord[],
  liveCodeSha256: string,
): { releaseId: string; manifest: Record<string, unknown> } | null {
  const withManifest = records.filter((r) => r.status === "succeeded" && r.manifest);
  const live = withManifest.find((r) => (r.after as { codeSha256?: unknown }).codeSha256 === liveCodeSha256);
  const chosen = live ?? withManifest[0];
  return chosen?.manifest ? { releaseId: chosen.releaseId, manifest: chosen.manifest } : null;
}

export function diffManifest(
  previous: Record<string, unknown> | null,
  pkg: LambdaPackage,
): { added: string[]; removed: string[]; changed: string[] } {
  if (!previous) return { added: [], removed: [], changed: [] };
  const added: string[] = [];
  const changed: string[] = [];
  const seen = new Set<string>();
  for (const entry of pkg.entries) {
    seen.add(entry.name);
    if (!(entry.name in previous)) added.push(entry.name);
    else if (previous[entry.name] !== entry.sha256) changed.push(entry.name);
  }
  const removed = Object.keys(previous)
    .filter((name) => !seen.has(name))
    .sort();
  return { added, removed, changed };
}

/** The manifest a release record keeps: zip entry → content SHA-256. */
export function manifestOf(pkg: LambdaPackage): Record<string, string> {
  return Object.fromEntries(pkg.entries.map((e) => [e.name, e.sha256]));
}
