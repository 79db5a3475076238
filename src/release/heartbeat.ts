import { describeError } from "../core/errors.js";
import type { ToolContext } from "./context.js";
import type { HeldLock } from "./lock.js";

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
