import { DeployError } from "../core/errors.js";
import type { ToolContext } from "../release/context.js";
import { lockKey, readDeployLock } from "../release/lock.js";
import type { PreflightCheck } from "./types.js";

/** `lock`: no other deploy holds this env's lock; a stale one is a warning with how to break it. */
export async function checkLock(ctx: ToolContext): Promise<PreflightCheck> {
  const where = `s3://${ctx.env.lambda.artifactBucket}/${lockKey(ctx.envName)}`;
  let lock: Awaited<ReturnType<typeof readDeployLock>>;
  try {
    lock = await readDeployLock(ctx);
  } catch (error) {
    const mapped = error instanceof DeployError ? error : null;
    // A missing artifact bucket is reported by `resources`; here it only means "unknown".
    const bucketMissing = mapped?.code === "AWS_NOT_FOUND";
    return {
      name: "lock",
      status: bucketMissing ? "warn" : "fail",
      detail: `The deploy lock ${where} could not be read: ${mapped?.message ?? (error as Error)?.message ?? String(error)}`,
      remedy: bucketMissing
        ? "Create the artifact bucket (see the resources check); the lock lives there."
        : `Grant s3:GetObject on ${where} to the deploy role, then rerun preflight.`,
    };
  }
  if (!lock) return { name: "lock", status: "pass", detail: `No deploy lock held on "${ctx.envName}".` };
  const held = `${lock.holder} running ${lock.tool} (release ${lock.releaseId}), started ${formatAge(lock.ageSeconds)} ago`;
  if (lock.stale) {
    return {
      name: "lock",
      status: "warn",
      detail: `A stale deploy lock is left on "${ctx.envName}": ${held}; it expired ${lock.expiresAt}.`,
      remedy:
        "If that deploy is dead, pass breakLock: true on the confirmed deploy call to break it (or delete the lock object after checking with its holder).",
    };
  }
  return {
    name: "lock",
    status: "fail",
    detail: `Another deploy holds the lock on "${ctx.envName}": ${held}; it expires ${lock.expiresAt}.`,
    remedy: `Wait for that deploy to finish (deploy_status shows it) and rerun preflight; if its process died, the lock can be broken with breakLock: true once it expires.`,
  };
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
