import type { S3Client } from "@aws-sdk/client-s3";

/**
 * The text of release records read lately, so a listing that shows a record unchanged does not
 * fetch it again. One deploy lists the same records up to three times — the release history for
 * the plan, the interrupted-release scan, and recovery after taking the lock — and a frontend
 * record holds a 2,000-entry manifest: at 100 ms a round trip, each re-read costs a round trip
 * and the bytes.
 *
 * Safety: an entry is used only when the listing shows the object with the same ETag and size
 * as the GetObject that read it; any write gives the object a new ETag (an MD5 for single-part
 * uploads, a new opaque value otherwise), so a changed record is always read again. Texts are
 * kept, not parsed records: every caller parses its own copy and may change it. Entries expire
 * a minute after they were read, and there are at most MAX_ENTRIES per client, so the memory
 * they hold is bounded and returned soon after a deploy.
 */
const MAX_ENTRIES = 48;
const TTL_MS = 60_000;

export interface ObjectIdentity {
  etag: string;
  size: number;
}

interface Entry extends ObjectIdentity {
  text: string;
  timer: NodeJS.Timeout;
}

const byClient = new WeakMap<S3Client, Map<string, Entry>>();

/** A read of a record's text that has not answered yet. */
type PendingRead = Promise<(ObjectIdentity & { text: string }) | null>;
const inFlight = new WeakMap<S3Client, Map<string, PendingRead>>();

/** The per-client map of `table`, made on first use. */
function mapOf<V>(table: WeakMap<S3Client, Map<string, V>>, s3: S3Client): Map<string, V> {
  let map = table.get(s3);
  if (!map) {
    map = new Map();
    table.set(s3, map);
  }
  return map;
}

const keyOf = (bucket: string, key: string) => `${bucket}/${key}`;

/** The text last read for this object, if the listing shows it unchanged since. */
export function recentRecordText(
  s3: S3Client,
  bucket: string,
  key: string,
  listed: ObjectIdentity,
): string | null {
  const entry = byClient.get(s3)?.get(keyOf(bucket, key));
  return entry && entry.etag === listed.etag && entry.size === listed.size ? entry.text : null;
}

/** Remembers a record's text as GetObject returned it, with that answer's ETag and length. */
export function rememberRecordText(
  s3: S3Client,
  bucket: string,
  key: string,
  read: Partial<ObjectIdentity>,
  text: string,
): void {
  if (!read.etag || read.size === undefined) return;
  const entries = mapOf(byClient, s3);
  const id = keyOf(bucket, key);
  const previous = entries.get(id);
  if (previous) {
    clearTimeout(previous.timer);
    entries.delete(id);
  }
  const timer = setTimeout(() => entries.delete(id), TTL_MS);
  // Never keeps the process alive (a CLI exits when its call is done).
  timer.unref();
  entries.set(id, { etag: read.etag, size: read.size, text, timer });
  for (const [oldest, entry] of entries) {
    if (entries.size <= MAX_ENTRIES) break;
    clearTimeout(entry.timer);
    entries.delete(oldest);
  }
}

/**
 * Reads a record's text once however many callers ask for it at the same moment: the history
 * for the plan and the interrupted-release scan list the same records side by side, so the
 * second would otherwise fetch a 2,000-entry manifest the first is still fetching. A caller
 * that listed the object uses a read in flight only when its answer has the listed ETag and
 * size; any other answer (the object changed in between) is read again by that caller.
 */
export async function readRecordTextShared(
  s3: S3Client,
  bucket: string,
  key: string,
  listed: ObjectIdentity | undefined,
  read: () => Promise<ObjectIdentity & { text: string }>,
): Promise<string> {
  const pending = mapOf(inFlight, s3);
  const id = keyOf(bucket, key);
  const other = pending.get(id);
  if (other && listed) {
    const answer = await other;
    if (answer && answer.etag === listed.etag && answer.size === listed.size) return answer.text;
  }
  const mine = read();
  const shared: PendingRead = mine.catch(() => null);
  pending.set(id, shared);
  void shared.finally(() => {
    if (pending.get(id) === shared) pending.delete(id);
  });
  return (await mine).text;
}
