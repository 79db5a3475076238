import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { isAwsErrorNamed, mapAwsError } from "../../aws/errors.js";
import { throwIfAborted } from "../../core/errors.js";
import { forEachBounded } from "./bounded.js";
import { isImmutable } from "./headers.js";

/** What a release says about one file: its content and the headers it is served with. */
export interface ManifestEntry {
  sha256: string;
  md5: string;
  size: number;
  contentType: string;
  cacheControl: string;
}

/** key → entry; kept in the release record so rollback and deploy_status know what is live. */
export type FrontendManifest = Record<string, ManifestEntry>;

export interface RemoteObject {
  key: string;
  /** ETag without quotes. */
  etag: string;
  size: number;
  lastModified: Date;
}

export type UploadReason = "new" | "changed" | "headers";

export interface PlannedUpload {
  key: string;
  reason: UploadReason;
  /** SHA-256 of the content this upload overwrites (kept before overwriting); null if none/unknown. */
  replacedSha256: string | null;
}

export interface BucketDiff {
  bucket: string;
  upload: PlannedUpload[];
  unchanged: string[];
  /** Objects in the bucket that the desired manifest does not contain. */
  stale: RemoteObject[];
  /** HeadObject calls the diff needed (0 when the live manifest described the bucket). */
  headRequests: number;
}

/**
 * Keys per segment when a listing is split ahead of time. A page holds at most 1,000 keys and
 * each next page waits for the one before (its continuation token): 2,000 keys cost three
 * dependent round trips. Split at keys the bucket is expected to hold, the segments are listed
 * at once — one round trip however large the site.
 */
const SEGMENT_KEYS = 700;
/** Keys asked for beyond a segment's expected count (stale files, drift) before it pages on. */
const SEGMENT_SLACK = 64;

/**
 * Every object in the bucket, by one paginated ListObjectsV2 — or, given the keys the bucket is
 * expected to hold (the files about to be published), by segments listed side by side. Each
 * segment lists from its lower bound (StartAfter) until it passes its upper bound, paging on
 * as long as it has to, so a bucket that differs from the expectation is still listed whole
 * and each object exactly once. Bounds compare in S3's order: the keys' UTF-8 bytes.
 */
export async function listBucket(
  s3: S3Client,
  bucket: string,
  signal?: AbortSignal,
  expectedKeys: readonly string[] = [],
): Promise<RemoteObject[]> {
  const sorted = [...expectedKeys].sort(compareKeys);
  const count = Math.ceil(sorted.length / SEGMENT_KEYS);
  const bounds: string[] = [];
  for (let i = 1; i < count; i++) bounds.push(sorted[Math.floor((i * sorted.length) / count) - 1] as string);
  const expect = count > 1 ? Math.ceil(sorted.length / count) + SEGMENT_SLACK : undefined;
  const segments = await Promise.all(
    [undefined, ...bounds].map((after, i) =>
      listSegment(s3, bucket, { after, through: bounds[i], expect }, signal),
    ),
  );
  return segments.flat();
}

/** S3 lists keys in the order of their UTF-8 bytes, which is not JavaScript's string order. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

async function listSegment(
  s3: S3Client,
  bucket: string,
  segment: { after: string | undefined; through: string | undefined; expect: number | undefined },
  signal?: AbortSignal,
): Promise<RemoteObject[]> {
  const objects: RemoteObject[] = [];
  let token: string | undefined;
  do {
    throwIfAborted(signal);
    try {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          ...(token
            ? { ContinuationToken: token }
            : {
                ...(segment.after !== undefined ? { StartAfter: segment.after } : {}),
                ...(segment.expect !== undefined ? { MaxKeys: Math.min(1000, segment.expect) } : {}),
              }),
        }),
      );
      for (const item of page.Contents ?? []) {
        if (!item.Key) continue;
        // The next segment's first key: this one is complete.
        if (segment.through !== undefined && compareKeys(item.Key, segment.through) > 0) return objects;
        objects.push({
          key: item.Key,
          etag: stripQuotes(item.ETag ?? ""),
          size: item.Size ?? 0,
          lastModified: item.LastModified ?? new Date(0),
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } catch (error) {
      throw mapAwsError(error, "s3:ListObjectsV2", `bucket ${bucket}`);
    }
  } while (token);
  return objects;
}

export interface RemoteFacts {
  sha256: string | null;
  etag: string;
  contentType: string | null;
  cacheControl: string | null;
}

export async function headRemote(s3: S3Client, bucket: string, key: string): Promise<RemoteFacts | null> {
  try {
    const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return {
      sha256: out.Metadata?.sha256 ?? null,
      etag: stripQuotes(out.ETag ?? ""),
      contentType: out.ContentType ?? null,
      cacheControl: out.CacheControl ?? null,
    };
  } catch (error) {
    if (isAwsErrorNamed(error, "NotFound", "NoSuchKey")) return null;
    throw mapAwsError(error, "s3:HeadObject", `s3://${bucket}/${key}`);
  }
}

export interface DiffOptions {
  /** The manifest of the release live now (the newest that was live), if any. */
  liveManifest: FrontendManifest | null;
  /**
   * When that release finished (its record's `finishedAt`). With it, any listed object whose
   * ETag and size are its manifest entry's and that was last written before then is taken as
   * exactly what that release left there — content and headers — without a HeadObject, entry
   * points included: a write after it (a header change by hand keeps the ETag but not
   * LastModified) is read. Without it, only immutable assets are taken on trust. Our clock
   * against S3's: one running behind makes more objects look written after the finish (read,
   * harmless); one running ahead by δ could let a header change made within δ after the finish
   * pass unread (the ETag still vouches for the content).
   */
  liveFinishedAt?: string | null;
  /** The bucket's listing, when the caller started it early (it is fetched here otherwise). */
  listing?: Promise<RemoteObject[]>;
  /** HeadObject calls in flight. */
  concurrency?: number;
  signal?: AbortSignal;
}

/**
 * S3 keeps LastModified in whole seconds: a write in the same second as the release's finish
 * (a header changed by hand right after it) would show a LastModified before `finishedAt`. So
 * an object is taken as the release's own only when it was last written in an earlier second;
 * what the release wrote in its last second is read (a few HeadObject calls at once, at most).
 */
const LAST_MODIFIED_SLACK_MS = 1_000;

/**
 * Classifies every desired file as upload (new, changed content, or headers that no longer
 * match the rules) or unchanged, and every other object in the bucket as stale.
 *
 * One paginated ListObjectsV2 per bucket, and HeadObject only where the listing and the live
 * release's manifest do not answer: an object whose listed ETag (the MD5 of a single-part
 * upload) and size equal what that manifest recorded is exactly the object that release
 * uploaded, so its sha256 and headers are known without asking — for an immutable asset
 * always (a rule change still shows: the manifest's headers differ from the new rule's), for
 * any other file when the listing shows it was not written since that release finished
 * (`liveFinishedAt`), or when that content is not the one wanted (it is uploaded, and the headers
 * it is served with now do not matter). Anything else (a first deploy over `aws s3 sync` output, a multipart or
 * SSE-KMS ETag that is not an MD5, an object changed behind our back) is read with HeadObject
 * and compared by our `sha256` metadata, falling back to the MD5 ETag.
 */
export async function diffBucket(
  s3: S3Client,
  bucket: string,
  desired: FrontendManifest,
  options: DiffOptions,
): Promise<BucketDiff> {
  const remote = await (options.listing ?? listBucket(s3, bucket, options.signal, Object.keys(desired)));
  const remoteByKey = new Map(remote.map((object) => [object.key, object]));
  const upload: PlannedUpload[] = [];
  const unchanged: string[] = [];
  let headRequests = 0;
  const finishedAt = options.liveFinishedAt ? Date.parse(options.liveFinishedAt) : Number.NaN;
  const untouchedSince = (object: RemoteObject) =>
    Number.isFinite(finishedAt) && object.lastModified.getTime() + LAST_MODIFIED_SLACK_MS <= finishedAt;

  await forEachBounded(
    Object.keys(desired),
    options.concurrency ?? 32,
    async (key) => {
      const want = desired[key] as ManifestEntry;
      const object = remoteByKey.get(key);
      if (!object) {
        upload.push({ key, reason: "new", replacedSha256: null });
        return;
      }
      const live = options.liveManifest?.[key];
      let facts: RemoteFacts;
      // The ETag (the MD5 of a single-part upload) and size vouch for the content; when that
      // content is not what the release wants, the file is uploaded whatever its headers are,
      // so a write after the release finished (a header change by hand) need not be read.
      if (
        live &&
        live.md5 === object.etag &&
        live.size === object.size &&
        (isImmutable(want.cacheControl) || untouchedSince(object) || live.sha256 !== want.sha256)
      ) {
        facts = {
          sha256: live.sha256,
          etag: object.etag,
          contentType: live.contentType,
          cacheControl: live.cacheControl,
        };
      } else {
        throwIfAborted(options.signal);
        headRequests++;
        const head = await headRemote(s3, bucket, key);
        if (!head) {
          upload.push({ key, reason: "new", replacedSha256: null });
          return;
        }
        facts = head;
      }
      const sameContent =
        facts.sha256 !== null
          ? facts.sha256 === want.sha256
          : isSinglePartEtag(facts.etag) && facts.etag === want.md5 && object.size === want.size;
      if (!sameContent) {
        upload.push({ key, reason: "changed", replacedSha256: facts.sha256 });
      } else if (
        // An object without the header matches an entry that recorded none (the site before a first release).
        (facts.contentType ?? "") !== want.contentType ||
        (facts.cacheControl ?? "") !== want.cacheControl
      ) {
        upload.push({ key, reason: "headers", replacedSha256: null });
      } else {
        unchanged.push(key);
      }
    },
    options.signal,
  );
  upload.sort((a, b) => a.key.localeCompare(b.key));
  unchanged.sort();
  const stale = remote.filter((object) => !(object.key in desired));
  return { bucket, upload, unchanged, stale, headRequests };
}

/** Multipart ETags end in `-<parts>` and are not the MD5 of the content. */
export function isSinglePartEtag(etag: string): boolean {
  return /^[0-9a-f]{32}$/i.test(etag);
}

export function stripQuotes(etag: string): string {
  return etag.replace(/^W\//, "").replace(/"/g, "");
}
