import type { S3Client } from "@aws-sdk/client-s3";
import { listReleaseRecords } from "../../release/records.js";
import type { ReleaseRecord } from "../../release/types.js";
import type { FrontendManifest, RemoteObject } from "./diff.js";
import type { LiveRelease } from "./stale.js";

/** Records read per deploy: enough history for the stale policy, bounded for a 2,000-file manifest. */
const HISTORY_LIMIT = 10;

/**
 * A record describes a release that was live when it succeeded, or when it switched
 * index.html and failed afterwards (`after.switched`); its manifest is then what served.
 */
export function wasLive(record: ReleaseRecord): boolean {
  const hasManifest = record.manifest !== undefined && Object.keys(record.manifest).length > 0;
  return hasManifest && (record.status === "succeeded" || record.after?.switched === true);
}

export function toLiveRelease(record: ReleaseRecord): LiveRelease {
  return {
    releaseId: record.releaseId,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    manifest: record.manifest as FrontendManifest,
  };
}

/** The env's frontend releases that were live, newest first. */
export async function loadLiveHistory(
  s3: S3Client,
  artifactBucket: string,
  env: string,
  limit = HISTORY_LIMIT,
): Promise<{ live: LiveRelease[]; records: ReleaseRecord[] }> {
  const records = await listReleaseRecords(s3, artifactBucket, env, "frontend", { limit });
  return { live: records.filter(wasLive).map(toLiveRelease), records };
}

/** The content hash of a listed object when a release manifest recorded exactly that object. */
export function knownSha256From(history: LiveRelease[]): (object: RemoteObject) => string | null {
  return (object) => {
    for (const release of history) {
      const entry = release.manifest[object.key];
      if (entry && entry.md5 === object.etag && entry.size === object.size) return entry.sha256;
    }
    return null;
  };
}
