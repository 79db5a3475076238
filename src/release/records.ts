import { randomBytes } from "node:crypto";
import {
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import { DeployError } from "../core/errors.js";
import { redactDeep, redactLines, redactText } from "../core/redact.js";
import { decodeRecordBody, encodeRecordBody, RecordBodyError } from "./record-body.js";
import {
  type ObjectIdentity,
  readRecordTextShared,
  recentRecordText,
  rememberRecordText,
} from "./record-texts.js";
import { type Component, RELEASE_ID, type ReleaseRecord, releaseRecordSchema } from "./types.js";

/**
 * Release records: releases/<env>/<component>/<releaseId>.json in the env's artifact bucket.
 * They are the audit trail (DESIGN.md §3.7) and what rollback and deploy_status read, so no
 * deploy history lives on one laptop only.
 */

const DEFAULT_LIST_LIMIT = 20;
const MAX_LIST_LIMIT = 100;
// Bounds a listing to 20 pages of 1000 keys: a history longer than that is pruned by lifecycle.
const MAX_LIST_PAGES = 20;

export function newReleaseId(now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.(\d{3})Z$/, "$1Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

export function isReleaseId(value: string): boolean {
  return RELEASE_ID.test(value);
}

const SAFE_SEGMENT = /^[a-z][a-z0-9-]*$/;

export function releaseRecordKey(env: string, component: Component | string, releaseId: string): string {
  // Safety: the release id can come from a tool argument (rollback `to`); it must never
  // address an object outside the release prefix.
  if (!SAFE_SEGMENT.test(env) || !SAFE_SEGMENT.test(component) || !isReleaseId(releaseId)) {
    throw new DeployError(
      "INPUT_INVALID",
      `"${releaseId}" is not a release id (expected e.g. 20261125T130512345Z-3fa9c1). Use deploy_status to list releases.`,
    );
  }
  return `${releasePrefix(env, component)}${releaseId}.json`;
}

function releasePrefix(env: string, component: string): string {
  return `releases/${env}/${component}/`;
}

export async function writeReleaseRecord(
  s3: S3Client,
  bucket: string,
  record: ReleaseRecord,
  signal?: AbortSignal,
): Promise<void> {
  const key = releaseRecordKey(record.env, record.component, record.releaseId);
  const encoded = await encodeRecordBody(`${JSON.stringify(redactOutsideText(record), null, 2)}\n`);
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: encoded.body,
        ContentType: "application/json",
        ...(encoded.contentEncoding ? { ContentEncoding: encoded.contentEncoding } : {}),
        CacheControl: "no-store",
      }),
      signal ? { abortSignal: signal } : {},
    );
  } catch (error) {
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  }
}

export async function loadReleaseRecord(
  s3: S3Client,
  bucket: string,
  env: string,
  component: Component | string,
  releaseId: string,
): Promise<ReleaseRecord | null> {
  if (!isReleaseId(releaseId)) return null;
  return loadByKey(s3, bucket, releaseRecordKey(env, component, releaseId));
}

async function loadByKey(
  s3: S3Client,
  bucket: string,
  key: string,
  options: { skipCorrupt?: boolean; listed?: ObjectIdentity } = {},
): Promise<ReleaseRecord | null> {
  let text = options.listed ? recentRecordText(s3, bucket, key, options.listed) : null;
  if (text === null) {
    try {
      text = await readRecordTextShared(s3, bucket, key, options.listed, async () => {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const bytes = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
        const body = decodeRecordBody(bytes, out.ContentEncoding);
        rememberRecordText(s3, bucket, key, { etag: out.ETag, size: out.ContentLength }, body);
        return { text: body, etag: out.ETag ?? "", size: out.ContentLength ?? -1 };
      });
    } catch (error) {
      if (isAwsErrorNamed(error, "NoSuchKey", "NotFound")) return null;
      if (error instanceof RecordBodyError) {
        if (options.skipCorrupt) return null;
        throw new DeployError(
          "AWS_ERROR",
          `Release record s3://${bucket}/${key} ${error.message}; inspect or delete that object.`,
        );
      }
      throw mapAwsError(error, "s3:GetObject", `s3://${bucket}/${key}`);
    }
  }
  const parsed = parseReleaseRecord(text);
  if ("record" in parsed) return parsed.record;
  if (options.skipCorrupt) return null;
  throw new DeployError(
    "AWS_ERROR",
    `Release record s3://${bucket}/${key} ${parsed.problem}; inspect or delete that object.`,
  );
}

/**
 * Fields that can hold outside text (AWS and terraform messages, health bodies) are redacted
 * on the way to S3; the plan, artifacts and manifest are the tool's own facts and stay exact.
 */
function redactOutsideText(record: ReleaseRecord): ReleaseRecord {
  return {
    ...record,
    ...(record.error !== undefined ? { error: redactText(record.error) } : {}),
    ...(record.who ? { who: redactText(record.who) } : {}),
    ...(record.warnings ? { warnings: redactLines(record.warnings) } : {}),
    ...(record.health !== undefined ? { health: redactDeep(record.health) } : {}),
    ...(record.evidence !== undefined
      ? { evidence: redactDeep(record.evidence) as typeof record.evidence }
      : {}),
    ...(record.recovery ? { recovery: { ...record.recovery, note: redactText(record.recovery.note) } } : {}),
  };
}

function parseReleaseRecord(text: string): { record: ReleaseRecord } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: "is not valid JSON" };
  }
  const parsed = releaseRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { problem: `is not a release record (${issue?.path.join(".") || "root"}: ${issue?.message})` };
  }
  return { record: parsed.data };
}

/** The newest records of one env and component, newest first (at most `limit`, default 20). */
export async function listReleaseRecords(
  s3: S3Client,
  bucket: string,
  env: string,
  component: Component | string,
  options: { limit?: number; pageSize?: number } = {},
): Promise<ReleaseRecord[]> {
  const limit = Math.max(1, Math.min(options.limit ?? DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT));
  const prefix = releasePrefix(env, component);
  const ids: string[] = [];
  const listed = new Map<string, ObjectIdentity>();
  let token: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    let out: ListObjectsV2CommandOutput;
    try {
      out = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix,
          ContinuationToken: token,
          ...(options.pageSize ? { MaxKeys: options.pageSize } : {}),
        }),
      );
    } catch (error) {
      throw mapAwsError(error, "s3:ListObjectsV2", `s3://${bucket}/${prefix}`);
    }
    for (const object of out.Contents ?? []) {
      const name = object.Key?.slice(prefix.length) ?? "";
      const id = name.endsWith(".json") ? name.slice(0, -".json".length) : "";
      if (!isReleaseId(id)) continue;
      ids.push(id);
      if (object.ETag && object.Size !== undefined) listed.set(id, { etag: object.ETag, size: object.Size });
    }
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
    if (!token) break;
  }
  const newest = ids.sort().reverse().slice(0, limit);
  // One corrupt object must not blind deploy_status and rollback to every other release;
  // loadReleaseRecord still reports it when asked for by id.
  const records = await Promise.all(
    newest.map((id) => {
      const known = listed.get(id);
      return loadByKey(s3, bucket, `${prefix}${id}.json`, {
        skipCorrupt: true,
        ...(known ? { listed: known } : {}),
      });
    }),
  );
  return records
    .filter((record): record is ReleaseRecord => record !== null)
    .sort((a, b) => compareNewestFirst(a, b));
}

function compareNewestFirst(a: ReleaseRecord, b: ReleaseRecord): number {
  // Second-precision ids share a second when two releases start in it; startedAt breaks the tie.
  if (a.startedAt !== b.startedAt) return a.startedAt < b.startedAt ? 1 : -1;
  return a.releaseId < b.releaseId ? 1 : a.releaseId > b.releaseId ? -1 : 0;
}
