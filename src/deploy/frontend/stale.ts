import type { FrontendManifest, RemoteObject } from "./diff.js";

/** The facts of a past release the stale policy needs. */
export interface LiveRelease {
  releaseId: string;
  finishedAt: string | null;
  startedAt: string;
  manifest: FrontendManifest;
}

export interface StaleDecision {
  delete: RemoteObject[];
  /** Kept for the grace period, with the time each becomes deletable. */
  keep: Array<{ key: string; deletableAfter: string }>;
}

const HOUR_MS = 3_600_000;

/**
 * Decides which objects that are no longer in the build may be deleted now.
 *
 * The grace period runs from when a file stopped being live, not from its LastModified: a
 * chunk uploaded months ago that was referenced by the release live until this deploy is
 * still needed by every open tab. That moment comes from the release records (newest first,
 * succeeded only): a file in the live release stops now; a file last seen in an older
 * release stopped when the next newer release finished; a file in none of the records read
 * stopped no later than the oldest of them (an upper bound, so never too early). With no
 * records at all it stops now. LastModified is then used as a floor — an object written
 * recently (say by a deploy that failed after switching) is never deleted within the grace.
 * `prune` skips the grace; the caller deletes only after the new entry points are live.
 */
export function decideStale(
  stale: RemoteObject[],
  releases: LiveRelease[],
  options: { now: Date; graceHours: number; prune: boolean },
): StaleDecision {
  const now = options.now.getTime();
  const graceMs = options.graceHours * HOUR_MS;
  const decision: StaleDecision = { delete: [], keep: [] };
  for (const object of stale) {
    if (options.prune) {
      decision.delete.push(object);
      continue;
    }
    const stoppedAt = Math.max(stoppedBeingLiveAt(object.key, releases, now), object.lastModified.getTime());
    const deletableAfter = stoppedAt + graceMs;
    if (deletableAfter <= now) decision.delete.push(object);
    else decision.keep.push({ key: object.key, deletableAfter: new Date(deletableAfter).toISOString() });
  }
  return decision;
}

function stoppedBeingLiveAt(key: string, releases: LiveRelease[], now: number): number {
  if (releases.length === 0) return now;
  for (let i = 0; i < releases.length; i++) {
    if (!((releases[i] as LiveRelease).manifest[key] === undefined)) {
      if (i === 0) return now;
      return finishedAt(releases[i - 1] as LiveRelease);
    }
  }
  return finishedAt(releases[releases.length - 1] as LiveRelease);
}

function finishedAt(release: LiveRelease): number {
  return Date.parse(release.finishedAt ?? release.startedAt);
}
