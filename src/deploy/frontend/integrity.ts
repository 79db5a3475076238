import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { mapAwsError } from "../../aws/errors.js";
import { forEachBounded } from "./bounded.js";
import { headRemote } from "./diff.js";

export interface IntegrityReport {
  ok: boolean;
  /** Asset references checked per bucket. */
  checked: number;
  missing: Array<{ bucket: string; key: string }>;
  url: { url: string; status: number | null; ok: boolean } | null;
  warnings: string[];
}

const ATTRIBUTE = /\b(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))/gi;

/**
 * Bucket keys of the local assets an HTML page at the site root references by `src`/`href`.
 * External URLs, protocol-relative URLs, `data:`/`mailto:` and fragments are not ours to check.
 */
export function referencedKeys(html: string): string[] {
  const keys = new Set<string>();
  for (const match of html.matchAll(ATTRIBUTE)) {
    const raw = (match[1] ?? match[2] ?? match[3] ?? "").trim();
    if (!raw || raw.startsWith("#") || raw.startsWith("//") || /^[a-z][a-z0-9+.-]*:/i.test(raw)) continue;
    let path = raw.split(/[?#]/)[0] ?? "";
    path = path.replace(/^\.?\//, "").replace(/^\/+/, "");
    if (!path || path.endsWith("/")) continue;
    try {
      path = decodeURIComponent(path);
    } catch {
      // A malformed escape is checked as written.
    }
    keys.add(path);
  }
  return [...keys].sort();
}

/** Keys among `keys` that the bucket does not hold (HeadObject each, in parallel). */
export async function missingKeys(s3: S3Client, bucket: string, keys: string[]): Promise<string[]> {
  const missing: string[] = [];
  await forEachBounded(keys, 16, async (key) => {
    if (!(await headRemote(s3, bucket, key))) missing.push(key);
  });
  return missing.sort();
}

export async function readObjectText(s3: S3Client, bucket: string, key: string): Promise<string> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await out.Body?.transformToString("utf-8")) ?? "";
  } catch (error) {
    throw mapAwsError(error, "s3:GetObject", `s3://${bucket}/${key}`);
  }
}

/**
 * After the switch: reads the live index.html back from every bucket, checks each asset it
 * references exists there, and asks the public URL (when configured). An unreachable URL is a
 * warning — from CI or a laptop the site may sit behind a network the check cannot reach.
 */
export async function checkLiveIntegrity(
  s3: S3Client,
  buckets: string[],
  options: {
    url: string | null;
    /**
     * The index.html the release published: its references are looked up while the live one
     * is read, and those answers count only when the live page references exactly these keys.
     */
    expectedIndexHtml?: string;
    fetchImpl?: typeof fetch;
    timeoutMs?: number;
  },
): Promise<IntegrityReport> {
  const report: IntegrityReport = { ok: true, checked: 0, missing: [], url: null, warnings: [] };
  const expected = options.expectedIndexHtml !== undefined ? referencedKeys(options.expectedIndexHtml) : null;
  const perBucket = await Promise.all(
    buckets.map(async (bucket) => {
      const early = expected ? missingKeys(s3, bucket, expected) : null;
      early?.catch(() => {});
      let keys: string[];
      try {
        keys = referencedKeys(await readObjectText(s3, bucket, "index.html"));
      } finally {
        await early?.catch(() => {});
      }
      const sameKeys = early !== null && expected?.join("\n") === keys.join("\n");
      return { bucket, keys, missing: sameKeys ? await early : await missingKeys(s3, bucket, keys) };
    }),
  );
  for (const { bucket, keys, missing } of perBucket) {
    report.checked = Math.max(report.checked, keys.length);
    for (const key of missing) report.missing.push({ bucket, key });
  }
  if (report.missing.length) report.ok = false;
  if (options.url) {
    const fetchImpl = options.fetchImpl ?? fetch;
    try {
      const response = await fetchImpl(options.url, {
        redirect: "follow",
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      await response.body?.cancel();
      report.url = { url: options.url, status: response.status, ok: response.ok };
      if (!response.ok) report.warnings.push(`${options.url} answered HTTP ${response.status}.`);
    } catch (error) {
      report.url = { url: options.url, status: null, ok: false };
      report.warnings.push(
        `${options.url} was not reachable from here (${(error as Error).message}); the bucket check passed, check the site in a browser.`,
      );
    }
  }
  return report;
}
