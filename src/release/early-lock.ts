import type { CallerIdentity } from "../core/context.js";
import type { ToolContext } from "./context.js";
import { acquireEnvLock, type Heartbeat, releaseEnvLock, startHeartbeat } from "./env-lock.js";
import { isExpectedAccount } from "./gates.js";
import { findInterruptedAsLocking, type InterruptedRelease } from "./interrupted.js";
import type { HeldLock } from "./lock.js";
import { newReleaseId } from "./records.js";
import type { Component } from "./types.js";

/**
 * The env's deploy lock, taken when a call starts instead of after its plan, for a call with
 * nothing to gate first (an unprotected env, no deploy role, no breakLock). The plan is then
 * made under the lock — no other release can change what it was made against before it runs
 * — and the lock's round trips and the search for interrupted releases overlap the plan's own
 * reads instead of following them. runRelease adopts it (ReleaseHooks.early); a call that ends
 * before (nothing to change, a failed plan) must dispose of it.
 */
export interface EarlyLock {
  readonly releaseId: string;
  readonly startedAtMs: number;
  readonly lock: HeldLock;
  readonly heartbeat: Heartbeat;
  /** The env's interrupted releases, judged under this lock: every in_progress record but ours. */
  readonly interrupted: InterruptedRelease[];
  /** Marks the lock as runRelease's to release; false when it was already disposed of. */
  adopt(): boolean;
  /** Releases the lock unless runRelease adopted it. Never throws; a failure is logged (the lock expires). */
  dispose(): Promise<void>;
}

/**
 * Takes the lock early when nothing must come before it; null otherwise, and null whenever
 * taking it fails (held by another call, an S3 error): the call then goes the usual way, which
 * plans without it and reports a held lock only if there is something to change.
 */
export function takeLockEarly(ctx: ToolContext, component: Component): Promise<EarlyLock | null> {
  return tryToLock(ctx, component).catch(() => null);
}

async function tryToLock(ctx: ToolContext, component: Component): Promise<EarlyLock | null> {
  // Safety: a protected env's token, tests-first gate and approval come before any write; a
  // deploy role's release id and credentials come from the role; breakLock is a person's call.
  if (ctx.env.protected || ctx.deployRole) return null;
  let identity: CallerIdentity;
  try {
    identity = await ctx.identity();
  } catch {
    return null;
  }
  // Safety: the wrong account's credentials are refused before anything is written (gates.ts).
  if (!isExpectedAccount(ctx, identity) || ctx.signal.aborted) return null;
  const s3 = await ctx.aws.s3();
  const startedAtMs = ctx.now().getTime();
  const releaseId = newReleaseId(new Date(startedAtMs));
  const acquiring = acquireEnvLock(ctx, s3, identity, { component, releaseId, breakLock: false });
  // The records are listed while the lock is created: the search then costs no round trip of its own.
  const searching = findInterruptedAsLocking(
    s3,
    ctx.env.lambda.artifactBucket,
    ctx.envName,
    releaseId,
    acquiring,
  );
  searching.catch(() => {});
  let lock: HeldLock;
  try {
    lock = await acquiring;
  } catch {
    // A failed create removes its own lock if it landed (lock.ts): nothing is left behind.
    return null;
  }
  const heartbeat = startHeartbeat(ctx, lock);
  let owner: "caller" | "release" | "disposed" = "caller";
  const release = async () => {
    heartbeat.stop();
    // Logged when it fails (the call has no answer to carry it): the lock expires on its own.
    await releaseEnvLock(ctx, lock);
  };
  let interrupted: InterruptedRelease[];
  try {
    interrupted = await searching;
  } catch {
    await release();
    return null;
  }
  return {
    releaseId,
    startedAtMs,
    lock,
    heartbeat,
    interrupted,
    adopt() {
      if (owner !== "caller") return false;
      owner = "release";
      return true;
    },
    async dispose() {
      if (owner !== "caller") return;
      owner = "disposed";
      await release();
    },
  };
}
