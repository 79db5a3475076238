import type { AwsClients } from "../aws/clients.js";
import type { Config, EnvConfig } from "../config/schema.js";
import { DeployError } from "../core/errors.js";
import {
  describeLockHolder,
  formatAge,
  type LockInfo,
  lockKey,
  lockTime,
  readDeployLock,
} from "../release/lock.js";
import type { PreflightDeps } from "./deps.js";
import type { PreflightCheck } from "./types.js";
import { asEvidence } from "./types.js";

/** The part of the env the lock lives in: its artifact bucket. */
type ArtifactBucketOf = { env: { lambda: Pick<EnvConfig["lambda"], "artifactBucket"> } };

/** What reading the env's lock needs: the artifact bucket and its client, the env's name, a clock. */
export type LockReadDeps = Pick<PreflightDeps, "envName" | "now"> &
  ArtifactBucketOf & { aws: Pick<AwsClients, "s3"> };

/** What `lock` reads besides the lock itself: the env's name and artifact bucket, a clock, the lock TTL. */
export type LockCheckDeps = Pick<PreflightDeps, "envName" | "now"> &
  ArtifactBucketOf & { config: { release: Pick<Config["release"], "lockTtlSeconds"> } };

/** The env's lock as read once, shared by the `lock` and `interrupted` checks so they agree. */
export type LockReading = { ok: true; lock: LockInfo | null } | { ok: false; error: unknown };

export async function readLockForPreflight(deps: LockReadDeps): Promise<LockReading> {
  try {
    const s3 = await deps.aws.s3();
    const lock = await readDeployLock({
      s3,
      bucket: deps.env.lambda.artifactBucket,
      envName: deps.envName,
      now: deps.now,
    });
    return { ok: true, lock };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * `lock`: no other deploy holds this env's lock. A live lock fails (a deploy runs); an
 * expired one (its process died) and an invalid one (an expiry no heartbeat could have
 * written) are warnings, because the next confirmed call takes them over by itself.
 *
 * Safety: the lock object is read from S3, so everything in it is outside text. Its holder
 * (an STS ARN) is never put into `detail`; the release id, tool, component and times appear
 * only when they have the shape the server writes.
 */
export function checkLock(deps: LockCheckDeps, reading: LockReading): PreflightCheck {
  const where = `s3://${deps.env.lambda.artifactBucket}/${lockKey(deps.envName)}`;
  if (!reading.ok) {
    const mapped = reading.error instanceof DeployError ? reading.error : null;
    // A missing artifact bucket is reported by `resources`; here it only means "unknown".
    const bucketMissing = mapped?.code === "AWS_NOT_FOUND";
    return {
      name: "lock",
      status: bucketMissing ? "warn" : "fail",
      detail: mapped
        ? `The deploy lock ${where} could not be read: ${mapped.message}`
        : `The deploy lock ${where} could not be read (the error is in evidence).`,
      ...(mapped ? {} : { evidence: asEvidence([errorText(reading.error)]) }),
      remedy: bucketMissing
        ? "Create the artifact bucket (see the resources check); the lock lives there."
        : `Grant s3:GetObject on ${where} to the deploy role, then rerun preflight.`,
    };
  }
  const lock = reading.lock;
  if (!lock) return { name: "lock", status: "pass", detail: `No deploy lock held on "${deps.envName}".` };
  const held = describeLockHolder(lock);
  const expires = lockTime(lock.expiresAt);
  if (lock.state === "expired") {
    return {
      name: "lock",
      status: "warn",
      detail: `A deploy lock left by a dead deploy is on "${deps.envName}": ${held}; it expired at ${expires} (its heartbeat stopped).`,
      remedy:
        "Nothing to do by hand: the next confirmed call takes the lock over (the interrupted check shows a release that deploy left unfinished).",
    };
  }
  if (lock.state === "invalid") {
    return {
      name: "lock",
      status: "warn",
      detail: `The deploy lock on "${deps.envName}" is invalid: ${held}; its expiry (${expires}) lies beyond the longest lock lifetime a running deploy writes, so no heartbeat renews it.`,
      remedy:
        "The next confirmed call takes it over. If a deploy started by an older version of this server may still be running, let it finish first.",
    };
  }
  const ttl = deps.config.release.lockTtlSeconds;
  const left = Math.max(0, Math.round((Date.parse(lock.expiresAt) - deps.now().getTime()) / 1000));
  return {
    name: "lock",
    status: "fail",
    detail: `Another deploy holds the lock on "${deps.envName}": ${held}; it expires at ${expires} (in ${formatAge(left)}) unless its heartbeat renews it.`,
    remedy: `Wait for that deploy to finish (deploy_status shows it), then rerun preflight. If its process died, the lock expires on its own within ${formatAge(ttl)} of its last heartbeat (release.lockTtlSeconds) and the next confirmed call takes it over; breakLock: true is only for when you know that deploy is gone.`,
  };
}

function errorText(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}
