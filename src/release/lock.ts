import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import { DeployError, RefusalError } from "../core/errors.js";
import type { ToolContext } from "./context.js";
import { isConditionalWriteConflict } from "./tokens.js";

/**
 * One deploy at a time per env (DESIGN.md §3.4): locks/<env>.json in the env's artifact
 * bucket, created with If-None-Match "*" so of two writers exactly one wins. The lock
 * expires after LOCK_TTL_MINUTES; an expired (stale) lock is broken only on request.
 */
export const LOCK_TTL_MINUTES = 60;
/** How often a running mutation pushes its lock's expiry forward, so only a dead one goes stale. */
export const LOCK_REFRESH_MS = (LOCK_TTL_MINUTES / 4) * 60_000;

export interface LockInfo {
  /** STS ARN of the caller holding it. */
  holder: string;
  tool: string;
  releaseId: string;
  startedAt: string;
  expiresAt: string;
  stale: boolean;
  ageSeconds: number;
}

export interface HeldLock {
  key: string;
  /** Deletes the lock if it is still ours; never throws for "already gone". */
  release(): Promise<void>;
  /**
   * Moves the expiry to now + LOCK_TTL_MINUTES, only if the object is still the one we wrote
   * (If-Match). False when the lock is no longer ours (broken and retaken).
   */
  refresh(): Promise<boolean>;
}

interface LockBody {
  holder: string;
  tool: string;
  releaseId: string;
  startedAt: string;
  expiresAt: string;
}

export function lockKey(env: string): string {
  return `locks/${env}.json`;
}

export async function readDeployLock(ctx: ToolContext): Promise<LockInfo | null> {
  const found = await readLockObject(await ctx.aws.s3(), ctx.env.lambda.artifactBucket, lockKey(ctx.envName));
  return found ? describeLock(found.body, ctx.now()) : null;
}

export async function acquireDeployLock(
  ctx: ToolContext,
  input: { tool: string; releaseId: string; breakLock: boolean },
): Promise<HeldLock> {
  const s3 = await ctx.aws.s3();
  const bucket = ctx.env.lambda.artifactBucket;
  const key = lockKey(ctx.envName);
  const identity = await ctx.identity();
  const now = ctx.now();
  const body: LockBody = {
    holder: identity.arn || identity.userId || "unknown caller",
    tool: input.tool,
    releaseId: input.releaseId,
    startedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + LOCK_TTL_MINUTES * 60_000).toISOString(),
  };
  let etag: string | undefined;
  const held: HeldLock = {
    key,
    release: () => releaseLock(ctx, s3, bucket, key, input.releaseId),
    async refresh() {
      const expiresAt = new Date(ctx.now().getTime() + LOCK_TTL_MINUTES * 60_000).toISOString();
      const next = await putIfMatch(s3, bucket, key, { ...body, expiresAt }, etag);
      if (next === null) return false;
      etag = next;
      return true;
    },
  };
  const taken = (tag: string | null) => {
    etag = tag ?? undefined;
    return held;
  };

  // Two rounds: the holder may release between our failed put and our read.
  for (let round = 0; round < 2; round++) {
    const tag = await putIfAbsent(s3, bucket, key, body);
    if (tag !== false) return taken(tag);
    const existing = await readLockObject(s3, bucket, key);
    if (!existing) continue;
    const info = describeLock(existing.body, ctx.now());
    if (!info.stale) {
      if (input.breakLock) {
        throw new RefusalError(
          `breakLock refused: the deploy lock on "${ctx.envName}" is live (${describeHolder(info)}, expires ${info.expiresAt}). Only a stale lock can be broken; wait for that deploy to finish. Nothing was changed.`,
          { reason: "lock_live", lock: info },
        );
      }
      throw lockHeld(ctx.envName, info, bucket, key);
    }
    if (!input.breakLock) throw lockHeld(ctx.envName, info, bucket, key);
    // Safety: delete exactly the stale object we read (ETag), then race for a fresh put;
    // if another breaker wins, our put fails and we report their lock.
    await deleteLockObject(s3, bucket, key, existing.etag);
    ctx.log("warning", `Broke stale deploy lock on ${ctx.envName} (${describeHolder(info)}).`);
    const retaken = await putIfAbsent(s3, bucket, key, body);
    if (retaken !== false) return taken(retaken);
    const winner = await readLockObject(s3, bucket, key);
    if (winner) throw lockHeld(ctx.envName, describeLock(winner.body, ctx.now()), bucket, key);
  }
  throw new DeployError(
    "LOCK_HELD",
    `The deploy lock s3://${bucket}/${key} changed hands repeatedly while we tried to take it; another deploy is starting. Retry in a minute. Nothing was changed.`,
  );
}

function lockHeld(env: string, info: LockInfo, bucket: string, key: string): DeployError {
  const how = info.stale
    ? `It is stale (expired ${info.expiresAt}): if that deploy is dead, call again with breakLock: true on a confirmed call.`
    : `It expires ${info.expiresAt}; wait for that deploy to finish. If its process died, the lock can be broken with breakLock: true once it is stale, or removed by deleting s3://${bucket}/${key}.`;
  return new DeployError(
    "LOCK_HELD",
    `Another deploy holds the lock on "${env}": ${describeHolder(info)}. ${how} Nothing was changed.`,
    { detail: { lock: info } },
  );
}

function describeHolder(info: LockInfo): string {
  return `${info.holder} running ${info.tool} (release ${info.releaseId}), started ${formatAge(info.ageSeconds)} ago`;
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function describeLock(body: LockBody, now: Date): LockInfo {
  const started = Date.parse(body.startedAt);
  const expires = Date.parse(body.expiresAt);
  return {
    holder: body.holder,
    tool: body.tool,
    releaseId: body.releaseId,
    startedAt: body.startedAt,
    expiresAt: body.expiresAt,
    // Safety: an unreadable expiry counts as stale so a corrupt lock can still be broken explicitly.
    stale: !Number.isFinite(expires) || now.getTime() >= expires,
    ageSeconds: Number.isFinite(started) ? Math.max(0, Math.round((now.getTime() - started) / 1000)) : 0,
  };
}

/** Creates the lock object; its ETag (null if S3 gave none) when we got it, false when taken. */
async function putIfAbsent(
  s3: S3Client,
  bucket: string,
  key: string,
  body: LockBody,
): Promise<string | null | false> {
  try {
    const out = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        IfNoneMatch: "*",
        ContentType: "application/json",
        CacheControl: "no-store",
        Body: JSON.stringify(body),
      }),
    );
    return out.ETag ?? null;
  } catch (error) {
    if (isConditionalWriteConflict(error)) return false;
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  }
}

/** Rewrites the lock only if it is still the object with `etag`; the new ETag, or null if not. */
async function putIfMatch(
  s3: S3Client,
  bucket: string,
  key: string,
  body: LockBody,
  etag: string | undefined,
): Promise<string | null> {
  // Safety: without a known ETag we cannot prove the object is ours; do not overwrite it.
  if (!etag) return null;
  try {
    const out = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        IfMatch: etag,
        ContentType: "application/json",
        CacheControl: "no-store",
        Body: JSON.stringify(body),
      }),
    );
    return out.ETag ?? null;
  } catch (error) {
    if (isConditionalWriteConflict(error) || isAwsErrorNamed(error, "NoSuchKey", "NotFound")) return null;
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  }
}

async function readLockObject(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ body: LockBody; etag: string | undefined } | null> {
  let text: string;
  let etag: string | undefined;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = (await out.Body?.transformToString("utf8")) ?? "";
    etag = out.ETag;
  } catch (error) {
    if (isAwsErrorNamed(error, "NoSuchKey", "NotFound")) return null;
    throw mapAwsError(error, "s3:GetObject", `s3://${bucket}/${key}`);
  }
  return { body: parseLockBody(text), etag };
}

function parseLockBody(text: string): LockBody {
  let value: Partial<LockBody> = {};
  try {
    value = (JSON.parse(text) as Partial<LockBody> | null) ?? {};
  } catch {
    // A corrupt lock still blocks deploys; it reads as a stale lock of an unknown holder.
  }
  const text_ = (v: unknown, fallback: string) => (typeof v === "string" && v ? v : fallback);
  return {
    holder: text_(value.holder, "unknown holder"),
    tool: text_(value.tool, "unknown tool"),
    releaseId: text_(value.releaseId, "unknown"),
    startedAt: text_(value.startedAt, ""),
    expiresAt: text_(value.expiresAt, ""),
  };
}

async function deleteLockObject(s3: S3Client, bucket: string, key: string, etag: string | undefined) {
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, ...(etag ? { IfMatch: etag } : {}) }));
  } catch (error) {
    // Someone else replaced or removed it first: the following conditional put decides.
    if (isConditionalWriteConflict(error) || isAwsErrorNamed(error, "NoSuchKey", "NotFound")) return;
    throw mapAwsError(error, "s3:DeleteObject", `s3://${bucket}/${key}`);
  }
}

async function releaseLock(
  ctx: ToolContext,
  s3: S3Client,
  bucket: string,
  key: string,
  releaseId: string,
): Promise<void> {
  const current = await readLockObject(s3, bucket, key);
  if (!current) return;
  // Safety: after a stale-lock break our lock may belong to someone else now; never delete theirs.
  if (current.body.releaseId !== releaseId) {
    ctx.log(
      "warning",
      `Deploy lock on ${ctx.envName} is now held by ${current.body.holder} (release ${current.body.releaseId}); left in place.`,
    );
    return;
  }
  await deleteLockObject(s3, bucket, key, current.etag);
}
