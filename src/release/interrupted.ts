import type { S3Client } from "@aws-sdk/client-s3";
import type { Clock } from "../core/context.js";
import { type LockInfo, readDeployLock } from "./lock.js";
import { listReleaseRecords } from "./records.js";
import { type Component, componentSchema, type ReleaseRecord } from "./types.js";

/** Records per component searched for a release that never finished. */
const SEARCH_DEPTH = 5;

export interface InterruptedRelease {
  record: ReleaseRecord;
  /** Why it counts as interrupted, in the server's own words. */
  why: string;
}

/**
 * A release is interrupted when its record still says in_progress but nothing is running it
 * any more: no lock names it, or the lock naming it expired (its heartbeat stopped) or is
 * invalid. `lock` is the env's lock as read now (null when none).
 */
export async function findInterruptedReleases(
  s3: S3Client,
  bucket: string,
  envName: string,
  lock: LockInfo | null,
  options: { ownLockReleaseId?: string } = {},
): Promise<InterruptedRelease[]> {
  return judgeInterrupted(await listRecent(s3, bucket, envName), lock, options.ownLockReleaseId);
}

/**
 * The search for a call that is taking the env's lock (releaseId names its lock): the records
 * are listed while the lock is created, and searched again under the lock only if one of them
 * says in_progress. Sound because the lock decides: a release listed as finished is not
 * interrupted, one listed in_progress is judged again once no release can run, and one whose
 * record was not there yet when the listing was served held a live lock then — our create can
 * only have succeeded after it finished (its record then says so) or never at all.
 * Resolves only once `locked` has.
 */
export async function findInterruptedAsLocking(
  s3: S3Client,
  bucket: string,
  envName: string,
  releaseId: string,
  locked: Promise<unknown>,
): Promise<InterruptedRelease[]> {
  const listed = listRecent(s3, bucket, envName);
  listed.catch(() => {});
  await locked;
  const records = await listed;
  if (!records.some((record) => record.status === "in_progress" && record.releaseId !== releaseId)) return [];
  return findInterruptedReleases(s3, bucket, envName, null, { ownLockReleaseId: releaseId });
}

/** The newest records of every component of the env. */
async function listRecent(s3: S3Client, bucket: string, envName: string): Promise<ReleaseRecord[]> {
  const lists = await Promise.all(
    componentSchema.options.map((component: Component) =>
      listReleaseRecords(s3, bucket, envName, component, { limit: SEARCH_DEPTH }),
    ),
  );
  return lists.flat();
}

function judgeInterrupted(
  records: ReleaseRecord[],
  lock: LockInfo | null,
  ownLockReleaseId?: string,
): InterruptedRelease[] {
  const found: InterruptedRelease[] = [];
  for (const record of records) {
    if (record.status !== "in_progress") continue;
    const why = interruptionOf(record, lock, ownLockReleaseId);
    if (why) found.push({ record, why });
  }
  return found.sort((a, b) => (a.record.startedAt < b.record.startedAt ? -1 : 1));
}

function interruptionOf(record: ReleaseRecord, lock: LockInfo | null, ownLock?: string): string | null {
  // Holding the env's lock ourselves, no other release can be running.
  if (ownLock !== undefined) return ownLock === record.releaseId ? null : "this call holds the env's lock";
  if (!lock) return "no deploy lock names it";
  if (lock.releaseId !== record.releaseId) return `the deploy lock belongs to release ${lock.releaseId}`;
  if (lock.state === "expired") return `its deploy lock expired at ${lock.expiresAt} (its heartbeat stopped)`;
  if (lock.state === "invalid") return "its deploy lock is invalid (expiry beyond the maximum TTL)";
  return null;
}

/** The env's interrupted releases as a planning call sees them (the lock read now). */
export async function readInterruptedFor(
  s3: S3Client,
  bucket: string,
  envName: string,
  now: Clock,
): Promise<InterruptedRelease[]> {
  // The lock and the records are read at once: one round trip, not two, when nothing is in
  // progress (nearly always).
  const lock = readDeployLock({ s3, bucket, envName, now });
  lock.catch(() => {});
  const lists = listRecent(s3, bucket, envName);
  lists.catch(() => {});
  const seen = judgeInterrupted(await lists, await lock);
  if (seen.length === 0) return seen;
  // Honesty: read side by side, a release that finished between the two reads would look
  // interrupted. The verdict is the careful one: the lock first, then the records.
  return findInterruptedReleases(s3, bucket, envName, await readDeployLock({ s3, bucket, envName, now }));
}
