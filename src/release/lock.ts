import { randomBytes } from "node:crypto";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import { formatMs } from "../core/budget.js";
import type { Clock } from "../core/context.js";
import { DeployError } from "../core/errors.js";
import { isConditionalWriteConflict } from "./conditional-write.js";
import { isReleaseId } from "./records.js";

/**
 * One deploy at a time per env (DESIGN.md §3.4): locks/<env>.json in the env's artifact
 * bucket, created with If-None-Match "*" so of two writers exactly one wins.
 *
 * Fail-safe rules:
 * - The body carries an owner nonce. A 412 on create whose stored nonce is ours means the
 *   first attempt did land and only its answer was lost: we hold the lock.
 * - A short TTL pushed forward by a heartbeat: a dead deploy frees the env within minutes,
 *   a long apply never looks expired while it runs.
 * - An expired lock is taken over by the next confirmed call (and said so). A lock whose
 *   expiry lies beyond MAX_LOCK_TTL_SECONDS from now was not written by a live heartbeat
 *   (hand-made or from an old version): it is invalid and taken over the same way.
 * - breakLock is for a live lock only: the person says its holder is gone.
 */
export const DEFAULT_LOCK_TTL_SECONDS = 120;
export const MAX_LOCK_TTL_SECONDS = 900;
/** Clock skew tolerated before a far-future expiry counts as invalid. */
const SKEW_MS = 60_000;

export type LockState = "live" | "expired" | "invalid";

export interface LockInfo {
  /** STS ARN of the caller holding it (outside text: shown in its own field only). */
  holder: string;
  tool: string;
  component: string | null;
  releaseId: string;
  startedAt: string;
  expiresAt: string;
  state: LockState;
  ageSeconds: number;
}

export interface HeldLock {
  readonly key: string;
  /** The lock this call took over (expired or invalid) or broke (breakLock), if any. */
  readonly replaced: (LockInfo & { how: "taken_over" | "broken" }) | null;
  /** Deletes the lock if it is still ours; "already gone" is not an error. */
  release(): Promise<void>;
  /** Pushes the expiry forward if the lock is still ours; false once it is not. */
  refresh(): Promise<boolean>;
}

export interface LockDeps {
  s3: S3Client;
  bucket: string;
  envName: string;
  now: Clock;
  log: (message: string) => void;
}

interface LockBody {
  nonce: string;
  holder: string;
  tool: string;
  component: string | null;
  releaseId: string;
  startedAt: string;
  expiresAt: string;
  ttlSeconds: number;
}

export function lockKey(env: string): string {
  return `locks/${env}.json`;
}

export async function readDeployLock(deps: Omit<LockDeps, "log">): Promise<LockInfo | null> {
  const found = await readLockObject(deps.s3, deps.bucket, lockKey(deps.envName));
  return found ? describeLock(found.body, deps.now()) : null;
}

export async function acquireDeployLock(
  deps: LockDeps,
  input: {
    holder: string;
    tool: string;
    component: string;
    releaseId: string;
    breakLock: boolean;
    ttlSeconds: number;
  },
): Promise<HeldLock> {
  const { s3, bucket } = deps;
  const key = lockKey(deps.envName);
  const ttlSeconds = Math.min(Math.max(input.ttlSeconds, 1), MAX_LOCK_TTL_SECONDS);
  const started = deps.now();
  const body: LockBody = {
    nonce: randomBytes(16).toString("hex"),
    holder: input.holder || "unknown caller",
    tool: input.tool,
    component: input.component,
    releaseId: input.releaseId,
    startedAt: started.toISOString(),
    expiresAt: new Date(started.getTime() + ttlSeconds * 1000).toISOString(),
    ttlSeconds,
  };
  let etag: string | undefined;
  let replaced: HeldLock["replaced"] = null;
  const held = (): HeldLock => ({
    key,
    replaced,
    release: () => releaseLock(s3, bucket, key, body.nonce, etag, deps.log),
    async refresh() {
      const next = { ...body, expiresAt: new Date(deps.now().getTime() + ttlSeconds * 1000).toISOString() };
      const tag = await putIfStillOurs(s3, bucket, key, next, etag);
      if (tag === null) return false;
      etag = tag;
      return true;
    },
  });

  // Two rounds: the holder may release between our failed put and our read.
  for (let round = 0; round < 3; round++) {
    const created = await createOrCleanUp(s3, bucket, key, body);
    if (created !== false) {
      etag = created ?? undefined;
      return held();
    }
    const existing = await readLockObject(s3, bucket, key);
    if (!existing) continue;
    // Safety: our own first attempt landed and its answer was lost; the SDK's retry met it.
    if (existing.body.nonce === body.nonce) {
      etag = existing.etag;
      return held();
    }
    const info = describeLock(existing.body, deps.now());
    if (info.state === "live" && !input.breakLock)
      throw lockHeld(deps.envName, info, bucket, key, ttlSeconds);
    // Safety: delete exactly the object we judged (ETag); if another caller replaced it
    // meanwhile, our create fails again and the next round judges theirs.
    await deleteLockObject(s3, bucket, key, existing.etag);
    replaced = { ...info, how: info.state === "live" ? "broken" : "taken_over" };
    deps.log(
      info.state === "live"
        ? `Broke the live deploy lock on ${deps.envName} (release ${info.releaseId}), as breakLock asked.`
        : `Took over the ${info.state} deploy lock on ${deps.envName} left by release ${info.releaseId}.`,
    );
  }
  throw new DeployError(
    "LOCK_HELD",
    `The deploy lock s3://${bucket}/${key} changed hands repeatedly while this call tried to take it; another deploy is starting. Retry in a minute. Nothing was changed.`,
  );
}

function lockHeld(env: string, info: LockInfo, bucket: string, key: string, ttlSeconds: number): DeployError {
  return new DeployError(
    "LOCK_HELD",
    `Another deploy holds the lock on "${env}" (${describeLockHolder(info)}, expires ${lockTime(info.expiresAt)}); see the lock field for its holder. Wait for it to finish (deploy_status shows it); a lock whose process died expires within ${formatMs(ttlSeconds * 1000)} and is then taken over. Only if you know that deploy is gone, call again with breakLock: true (s3://${bucket}/${key}). Nothing was changed.`,
    { detail: { reason: "lock_held", lock: info } },
  );
}

/**
 * "deploy_lambda of release 2026…-3fa9c1 (lambda), started 5 min ago", from the fields that
 * have the shape the server writes. Safety: the lock is read from S3, so anyone who can write
 * there writes it; its holder is never quoted and the other fields only when well-formed.
 */
export function describeLockHolder(lock: LockInfo): string {
  const tool = /^[a-z][a-z0-9_]{0,39}$/.test(lock.tool) ? lock.tool : "an unknown tool";
  const release = isReleaseId(lock.releaseId)
    ? `release ${lock.releaseId}`
    : "a release with an unreadable id";
  const component = lock.component && /^[a-z]{1,20}$/.test(lock.component) ? ` (${lock.component})` : "";
  return `${tool} of ${release}${component}, started ${formatAge(lock.ageSeconds)} ago`;
}

/** A lock's time re-written by us, so the lock's own string never reaches a message. */
export function lockTime(text: string): string {
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : "an unreadable time";
}

export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function describeLock(body: LockBody, now: Date): LockInfo {
  const expires = Date.parse(body.expiresAt);
  const started = Date.parse(body.startedAt);
  let state: LockState = "live";
  // Safety: an unreadable expiry, or one no heartbeat could have written, vouches for nothing.
  if (!Number.isFinite(expires) || expires > now.getTime() + MAX_LOCK_TTL_SECONDS * 1000 + SKEW_MS)
    state = "invalid";
  else if (now.getTime() >= expires) state = "expired";
  return {
    holder: body.holder,
    tool: body.tool,
    component: body.component,
    releaseId: body.releaseId,
    startedAt: body.startedAt,
    expiresAt: body.expiresAt,
    state,
    ageSeconds: Number.isFinite(started) ? Math.max(0, Math.round((now.getTime() - started) / 1000)) : 0,
  };
}

/** Creates the lock; its ETag (null if none) when created, false when the key exists. */
async function createOrCleanUp(s3: S3Client, bucket: string, key: string, body: LockBody) {
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
    // The write may have landed with every answer lost: never leave our own lock behind.
    await releaseLock(s3, bucket, key, body.nonce, undefined, () => {}).catch(() => {});
    throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
  }
}

/** Rewrites the lock only while it is ours; the new ETag, or null once it is not. */
async function putIfStillOurs(
  s3: S3Client,
  bucket: string,
  key: string,
  body: LockBody,
  etag: string | undefined,
): Promise<string | null> {
  // While the lock read back carries our nonce it is ours: a 412 then only means our own
  // earlier write (whose answer was lost) changed the ETag.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const out = await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(etag ? { IfMatch: etag } : { IfNoneMatch: "*" }),
          ContentType: "application/json",
          CacheControl: "no-store",
          Body: JSON.stringify(body),
        }),
      );
      return out.ETag ?? etag ?? null;
    } catch (error) {
      if (!isConditionalWriteConflict(error) && !isAwsErrorNamed(error, "NoSuchKey", "NotFound"))
        throw mapAwsError(error, "s3:PutObject", `s3://${bucket}/${key}`);
      // A 412 can be our own earlier refresh whose answer was lost: the nonce decides.
      const current = await readLockObject(s3, bucket, key);
      if (current?.body.nonce !== body.nonce) return null;
      etag = current.etag;
    }
  }
  return null;
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
    // A corrupt lock reads as an invalid lock of an unknown holder (its expiry is unreadable).
  }
  const str = (v: unknown, fallback: string) => (typeof v === "string" && v ? v.slice(0, 300) : fallback);
  return {
    nonce: str(value.nonce, ""),
    holder: str(value.holder, "unknown holder"),
    tool: str(value.tool, "unknown tool"),
    component: typeof value.component === "string" ? value.component.slice(0, 40) : null,
    releaseId: str(value.releaseId, "unknown"),
    startedAt: str(value.startedAt, ""),
    expiresAt: str(value.expiresAt, ""),
    ttlSeconds: typeof value.ttlSeconds === "number" ? value.ttlSeconds : 0,
  };
}

/**
 * True when the object carrying `etag` was deleted. False when that is not known: the lock is
 * another object now (412), already gone (404), or the answer was an error that may have come
 * after the delete landed (a 500, a reset). The caller then reads the lock and settles it, so
 * a lost answer never fails a release whose lock is in fact gone, and a real failure (access
 * denied) is reported by the delete that reading leads to.
 */
async function deleteIfStillOurs(s3: S3Client, bucket: string, key: string, etag: string): Promise<boolean> {
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, IfMatch: etag }));
    return true;
  } catch {
    return false;
  }
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
  s3: S3Client,
  bucket: string,
  key: string,
  nonce: string,
  etag: string | undefined,
  log: (message: string) => void,
): Promise<void> {
  // One request when the lock is as we last wrote it: a delete conditional on that ETag can
  // only remove our own object. Anything else (a takeover, a refresh whose answer was lost, a
  // delete that landed but whose answer was lost) is settled by reading the lock below.
  if (etag && (await deleteIfStillOurs(s3, bucket, key, etag))) return;
  const current = await readLockObject(s3, bucket, key);
  if (!current) return;
  // Safety: after a takeover or break our lock may belong to someone else now; never delete theirs.
  if (current.body.nonce !== nonce) {
    log(`The deploy lock ${key} now belongs to release ${current.body.releaseId}; left in place.`);
    return;
  }
  await deleteLockObject(s3, bucket, key, current.etag);
  // A 412 on the conditional delete (our own refresh changed the ETag) is ignored there; the
  // lock must still be gone when it was ours.
  const after = await readLockObject(s3, bucket, key);
  if (after?.body.nonce === nonce) {
    throw new DeployError("AWS_ERROR", `The deploy lock ${key} is still there after its delete; retrying.`);
  }
}
