import type { S3Client } from "@aws-sdk/client-s3";
import { retryWithin } from "../core/budget.js";
import type { CallerIdentity } from "../core/context.js";
import { describeError } from "../core/errors.js";
import type { ToolContext } from "./context.js";
import { acquireDeployLock, type HeldLock } from "./lock.js";
import type { Component } from "./types.js";

/**
 * The env's deploy lock as a call holds it (lock.ts does the S3 side): taken with the call's
 * identity and settings, kept alive by a heartbeat, released within a budget. The release flow
 * and the early lock (early-lock.ts) both go through here.
 */

/** Lock release gets this long to get through S3 blips before it becomes a warning. */
const LOCK_RELEASE_BUDGET_MS = 10_000;

export function acquireEnvLock(
  ctx: ToolContext,
  s3: S3Client,
  identity: CallerIdentity,
  input: { component: Component; releaseId: string; breakLock: boolean },
): Promise<HeldLock> {
  return acquireDeployLock(
    {
      s3,
      bucket: ctx.env.lambda.artifactBucket,
      envName: ctx.envName,
      now: ctx.now,
      log: (m) => ctx.log("warning", m),
    },
    {
      holder: identity.arn || identity.userId,
      tool: ctx.toolName,
      component: input.component,
      releaseId: input.releaseId,
      breakLock: input.breakLock,
      ttlSeconds: ctx.config.release.lockTtlSeconds,
    },
  );
}

/** Releases the lock, retrying within a budget; the warning to report when it could not, else null. */
export async function releaseEnvLock(ctx: ToolContext, lock: HeldLock): Promise<string | null> {
  const released = await retryWithin(() => lock.release(), { budgetMs: LOCK_RELEASE_BUDGET_MS });
  if (released.ok) return null;
  const warning = `The deploy lock ${lock.key} could not be released (${describeError(released.error)}); it expires on its own within ${ctx.config.release.lockTtlSeconds} s and is then taken over.`;
  ctx.log("error", warning);
  return warning;
}

export interface Heartbeat {
  /** True once a refresh found the lock in other hands: the flow stops before its next step. */
  readonly lost: boolean;
  stop(): void;
}

/**
 * Pushes the lock's expiry forward while the release runs, so only a dead one expires. A
 * refresh that finds the lock in other hands marks it lost: the flow stops before its next step.
 */
export function startHeartbeat(ctx: ToolContext, lock: HeldLock): Heartbeat {
  const state = { lost: false };
  const everyMs = Math.max(250, (ctx.config.release.lockTtlSeconds * 1000) / 4);
  let refreshing = false;
  const timer = setInterval(() => {
    // Safety: overlapping refreshes race each other's ETag and can misread the lock as lost.
    if (refreshing) return;
    refreshing = true;
    lock
      .refresh()
      .then(
        (stillOurs) => {
          if (!stillOurs && !state.lost) {
            state.lost = true;
            ctx.log(
              "error",
              `The deploy lock ${lock.key} was taken by another call while ${ctx.toolName} ran.`,
            );
          }
        },
        (error: unknown) =>
          ctx.log("warning", `Could not refresh the deploy lock ${lock.key}: ${describeError(error)}`),
      )
      .finally(() => {
        refreshing = false;
      });
  }, everyMs);
  // The timer alone must never keep a CLI process alive.
  timer.unref();
  // A refresh still in flight after stop() can change the lock's ETag under the release's
  // conditional delete; lock.release() reads back and retries until its own lock is gone.
  return {
    get lost() {
      return state.lost;
    },
    stop: () => clearInterval(timer),
  };
}
