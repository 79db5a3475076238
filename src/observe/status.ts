import { createHash } from "node:crypto";
import {
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  type GetFunctionConfigurationCommandOutput,
  type LambdaClient,
} from "@aws-sdk/client-lambda";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { isAwsErrorNamed, mapAwsError } from "../aws/errors.js";
import type { EnvConfig } from "../config/schema.js";
import type { Clock } from "../core/context.js";
import { DeployError } from "../core/errors.js";
import { quote } from "../core/quote.js";
import { findInterruptedReleases, type InterruptedRelease } from "../release/interrupted.js";
import { type LockInfo, readDeployLock } from "../release/lock.js";
import { isReleaseId, listReleaseRecords, loadReleaseRecord } from "../release/records.js";
import { type Component, componentSchema, type FinalStatus, type ReleaseRecord } from "../release/types.js";
import { type CanaryEvidence, canaryEvidenceSchema } from "./canary-schema.js";
import type {
  ComponentVerdict,
  FrontendLiveStatus,
  InterruptedReleaseStatus,
  LambdaLiveStatus,
  LockStatus,
  ReleaseDetail,
  ReleaseSummary,
} from "./status-schema.js";

export type {
  FrontendLiveStatus,
  InterruptedReleaseStatus,
  LambdaLiveStatus,
  LockStatus,
  ReleaseDetail,
  ReleaseSummary,
} from "./status-schema.js";

export interface DeployStatusReport {
  lambda: LambdaLiveStatus;
  frontend: FrontendLiveStatus;
  releases: ReleaseSummary[];
  drift: string[];
  lock: LockStatus;
  interrupted: InterruptedReleaseStatus[];
  /** The release asked for by id. */
  release?: ReleaseDetail;
  summary: string;
}

export interface ReadDeployStatusOptions {
  lambda: LambdaClient;
  s3: S3Client;
  env: EnvConfig;
  envName: string;
  now: Clock;
  releasesPerComponent?: number;
  /** Also report this release: its phase, a canary's figures so far, its outcome. */
  releaseId?: string | undefined;
}

// index.html is a small entry point; a bigger object is not something we hash in a status call.
const MAX_INDEX_BYTES = 5 * 1024 * 1024;
/** Longest recovery plan / reason shown; the server writes a sentence or two. */
const TEXT_CHARS = 600;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what we remove.
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;

/**
 * Statuses whose record's `after` says what the release left live. A `recovered` record's
 * `after` is what was live once a later call settled it.
 */
const FINISHED: ReadonlySet<ReleaseRecord["status"]> = new Set<FinalStatus>([
  "succeeded",
  "rolled_back",
  "failed",
  "recovered",
]);

/**
 * What is live per component, the last releases, the env's deploy lock, interrupted releases,
 * and drift: live state that the newest finished release record does not explain (a hand
 * deploy, a missing entry point). A component that a release is changing right now, or that
 * a release died in the middle of changing, is reported as in_progress / interrupted instead:
 * its live state is expected to differ from the records until that release is settled.
 */
export async function readDeployStatus(options: ReadDeployStatusOptions): Promise<DeployStatusReport> {
  const { env, envName, s3, now } = options;
  const limit = options.releasesPerComponent ?? 5;
  const bucket = env.lambda.artifactBucket;
  const drift: string[] = [];
  // The lock first: a release that starts after this read has a record but no lock here, and
  // is checked again below before it is called interrupted.
  const firstLock = await readLock(s3, bucket, envName, now);
  const [lambda, frontend, lambdaRecords, frontendRecords, found, asked] = await Promise.all([
    readLambdaLive(options.lambda, env),
    readFrontendLive(s3, env),
    readRecords(s3, bucket, envName, "lambda", limit, drift),
    readRecords(s3, bucket, envName, "frontend", limit, drift),
    readInterrupted(s3, bucket, envName, firstLock),
    options.releaseId === undefined
      ? Promise.resolve(null)
      : readReleaseById(s3, bucket, envName, options.releaseId),
  ]);
  const { lock, interrupted } = await withoutStartedMeanwhile(s3, bucket, envName, now, firstLock, found);

  lambda.matchedReleaseId =
    lambdaRecords.find((r) => sameCode(lambda.codeSha256, r.after.codeSha256))?.releaseId ?? null;
  frontend.matchedReleaseId =
    frontendRecords.find(
      (r) => frontend.indexHtmlSha256 !== null && r.after.indexHtmlSha256 === frontend.indexHtmlSha256,
    )?.releaseId ?? null;

  const lambdaFindings = judge(lambda, openRelease("lambda", lambdaRecords, lock, interrupted), () =>
    lambdaDrift(lambda, lambdaRecords),
  );
  const frontendFindings = judge(frontend, openRelease("frontend", frontendRecords, lock, interrupted), () =>
    frontendDrift(frontend, frontendRecords),
  );
  drift.push(...lambdaFindings, ...frontendFindings);

  const releases = [...lambdaRecords, ...frontendRecords]
    .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0))
    .map(summariseRecord);
  const lockStatus = lock ? showLock(lock) : null;
  const interruptedStatus = interrupted.map(showInterrupted);
  const release = asked ? showRelease(asked, lock) : undefined;
  const report = { lambda, frontend, releases, drift, lock: lockStatus, interrupted: interruptedStatus };
  const summary = summarise(envName, report);
  return {
    ...report,
    ...(release ? { release } : {}),
    summary: release ? `${releaseText(release)} ${summary}` : summary,
  };
}

/** The record of one release of the env, whatever its component; a clear error when there is none. */
async function readReleaseById(
  s3: S3Client,
  bucket: string,
  envName: string,
  releaseId: string,
): Promise<ReleaseRecord> {
  if (!isReleaseId(releaseId)) {
    throw new DeployError(
      "INPUT_INVALID",
      "releaseId is not a release id (they look like 20261125T130512345Z-3fa9c1). Nothing was read.",
    );
  }
  const found = await Promise.all(
    componentSchema.options.map((component) => loadReleaseRecord(s3, bucket, envName, component, releaseId)),
  );
  const record = found.find((r) => r !== null);
  if (!record) {
    throw new DeployError(
      "AWS_NOT_FOUND",
      `No release ${releaseId} is recorded for env ${envName} (s3://${bucket}/releases/${envName}/<component>/${releaseId}.json). Check the env and the id (deploy_status without releaseId lists the last releases).`,
    );
  }
  return record;
}

function showRelease(record: ReleaseRecord, lock: LockInfo | null): ReleaseDetail {
  const running = lock?.state === "live" && lock.releaseId === record.releaseId;
  const state: ReleaseDetail["state"] =
    record.status !== "in_progress" ? "finished" : running ? "running" : "interrupted";
  const canary = canaryOf(record);
  return {
    releaseId: record.releaseId,
    component: record.component,
    tool: record.tool,
    status: record.status,
    phase: record.phase ?? null,
    state,
    outcome: outcomeOf(record, canary),
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    journal: record.journal,
    ...afterFacts(record, ["version", "codeSha256"]),
    ...(canary ? { canary } : {}),
    ...recoveryAndError(record),
  };
}

/** A canary's evidence as its schema allows it (a record is outside text); null otherwise. */
function canaryOf(record: ReleaseRecord): CanaryEvidence | null {
  const parsed = canaryEvidenceSchema.safeParse(record.evidence);
  return parsed.success ? parsed.data : null;
}

function outcomeOf(record: ReleaseRecord, canary: CanaryEvidence | null): ReleaseDetail["outcome"] {
  switch (record.status) {
    case "in_progress":
      return null;
    case "succeeded":
      return canary ? "promoted" : "succeeded";
    default:
      return record.status;
  }
}

/**
 * The asked release in the server's words: its id, statuses, phase and figures. The figures
 * are numbers and version numbers checked by the evidence schema; reasons, errors and notes
 * read from S3 stay in their fields.
 */
function releaseText(r: ReleaseDetail): string {
  const where =
    r.state === "running"
      ? `running, phase ${r.phase ?? "none"}`
      : r.state === "interrupted"
        ? `interrupted in phase ${r.phase ?? "none"} (the next guarded call settles it)`
        : `finished ${r.status}${r.outcome === "promoted" ? " (canary promoted)" : ""}${r.recovery ? ` (recovery: ${r.recovery.outcome})` : ""}`;
  const c = r.canary;
  const figures = c
    ? ` Canary version ${c.canaryVersion} at ${c.percent}% for ${Math.round(c.elapsedSeconds)} of ${Math.round(c.bakeSeconds)} s (${c.checks} check(s), verdict ${c.verdict}): ${figuresText(c.canary)}; stable version ${c.stableVersion}: ${figuresText(c.stable)}.`
    : "";
  return `Release ${idOf(r.releaseId)} (${r.component}, ${r.tool}): ${where}.${figures}`;
}

function figuresText(f: CanaryEvidence["canary"]): string {
  return `${f.invocations} invocation(s), ${f.errors} error(s) (${f.errorRatePercent}%), ${f.timeouts} timeout(s), p95 ${f.p95Ms === null ? "-" : `${f.p95Ms} ms`}`;
}

/** The env's lock; null when there is none, or when the artifact bucket does not exist yet. */
async function readLock(s3: S3Client, bucket: string, envName: string, now: Clock): Promise<LockInfo | null> {
  try {
    return await readDeployLock({ s3, bucket, envName, now });
  } catch (error) {
    // A missing artifact bucket holds no lock; readRecords reports the bucket itself.
    if (error instanceof DeployError && error.code === "AWS_NOT_FOUND") return null;
    throw error;
  }
}

async function readInterrupted(
  s3: S3Client,
  bucket: string,
  envName: string,
  lock: LockInfo | null,
): Promise<InterruptedRelease[]> {
  try {
    return await findInterruptedReleases(s3, bucket, envName, lock);
  } catch (error) {
    if (error instanceof DeployError && error.code === "AWS_NOT_FOUND") return [];
    throw error;
  }
}

/**
 * A deploy that took the lock between our lock read and the record listing is running, not
 * interrupted: when anything looks interrupted, the lock is read again and the release a live
 * lock names is dropped. The newer reading is the one reported.
 */
async function withoutStartedMeanwhile(
  s3: S3Client,
  bucket: string,
  envName: string,
  now: Clock,
  lock: LockInfo | null,
  found: InterruptedRelease[],
): Promise<{ lock: LockInfo | null; interrupted: InterruptedRelease[] }> {
  if (found.length === 0) return { lock, interrupted: found };
  const again = await readLock(s3, bucket, envName, now);
  if (again?.state !== "live") return { lock: again, interrupted: found };
  return { lock: again, interrupted: found.filter(({ record }) => record.releaseId !== again.releaseId) };
}

interface OpenRelease {
  verdict: "in_progress" | "interrupted";
  releaseId: string;
}

/**
 * The release changing (or left half-way through changing) a component, if any. An interrupted
 * one comes first: it is settled before anything else runs. A live lock for the component
 * counts even before its record is written (the call is still recovering or starting).
 */
function openRelease(
  component: Component,
  records: ReleaseRecord[],
  lock: LockInfo | null,
  interrupted: InterruptedRelease[],
): OpenRelease | null {
  const stuck = interrupted.find(({ record }) => record.component === component);
  if (stuck) return { verdict: "interrupted", releaseId: stuck.record.releaseId };
  if (lock?.state === "live" && lock.component === component) {
    return { verdict: "in_progress", releaseId: lock.releaseId };
  }
  // An in_progress record that is neither interrupted nor the lock's: it started or finished
  // between our reads. Not compared either way.
  const running = records.find((r) => r.status === "in_progress");
  return running ? { verdict: "in_progress", releaseId: running.releaseId } : null;
}

/** Sets the component's verdict; its drift findings, unless a release is open on it. */
function judge(
  live: LambdaLiveStatus | FrontendLiveStatus,
  open: OpenRelease | null,
  findDrift: () => { drift: string[]; deployed: boolean },
): string[] {
  if (open) {
    live.verdict = open.verdict;
    live.openReleaseId = open.releaseId;
    return [];
  }
  const { drift, deployed } = findDrift();
  const verdict: ComponentVerdict = drift.length > 0 ? "drift" : deployed ? "matches" : "nothing_deployed";
  live.verdict = verdict;
  return drift;
}

async function readRecords(
  s3: S3Client,
  bucket: string,
  envName: string,
  component: Component,
  limit: number,
  drift: string[],
): Promise<ReleaseRecord[]> {
  try {
    return await listReleaseRecords(s3, bucket, envName, component, { limit });
  } catch (error) {
    // No artifact bucket yet (nothing was ever deployed with these tools) is a state to report.
    if (error instanceof DeployError && error.code === "AWS_NOT_FOUND") {
      drift.push(`No ${component} release records could be read from s3://${bucket} (${error.message})`);
      return [];
    }
    throw error;
  }
}

async function readLambdaLive(lambda: LambdaClient, env: EnvConfig): Promise<LambdaLiveStatus> {
  const functionName = env.lambda.functionName;
  const alias = env.lambda.alias;
  const status: LambdaLiveStatus = {
    functionName,
    exists: false,
    alias,
    liveVersion: null,
    codeSha256: null,
    lastModified: null,
    state: null,
    lastUpdateStatus: null,
    matchedReleaseId: null,
    verdict: "nothing_deployed",
    openReleaseId: null,
  };
  try {
    let qualifier: string | undefined;
    let weights: Record<string, number> = {};
    if (alias) {
      const out = await lambda.send(new GetAliasCommand({ FunctionName: functionName, Name: alias }));
      qualifier = out.FunctionVersion;
      weights = out.RoutingConfig?.AdditionalVersionWeights ?? {};
    }
    const config: GetFunctionConfigurationCommandOutput = await lambda.send(
      new GetFunctionConfigurationCommand({
        FunctionName: functionName,
        ...(qualifier ? { Qualifier: qualifier } : {}),
      }),
    );
    return {
      ...status,
      exists: true,
      liveVersion: qualifier ?? config.Version ?? "$LATEST",
      codeSha256: config.CodeSha256 || null,
      lastModified: config.LastModified ?? null,
      state: config.State ?? null,
      lastUpdateStatus: config.LastUpdateStatus ?? null,
      ...(Object.keys(weights).length ? { weights: { ...weights } } : {}),
    };
  } catch (error) {
    if (isAwsErrorNamed(error, "ResourceNotFoundException")) {
      return {
        ...status,
        error: mapAwsError(
          error,
          "lambda:GetFunctionConfiguration",
          alias ? `${functionName}:${alias}` : functionName,
        ).message,
      };
    }
    throw mapAwsError(error, "lambda:GetFunctionConfiguration", functionName);
  }
}

async function readFrontendLive(s3: S3Client, env: EnvConfig): Promise<FrontendLiveStatus> {
  const bucket = env.frontend.buckets[0] as string;
  const status: FrontendLiveStatus = {
    bucket,
    url: env.frontend.url,
    indexHtmlPresent: false,
    indexHtmlSha256: null,
    metadataSha256: null,
    lastModified: null,
    matchedReleaseId: null,
    verdict: "nothing_deployed",
    openReleaseId: null,
  };
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "index.html" }));
    const base = {
      ...status,
      indexHtmlPresent: true,
      metadataSha256: out.Metadata?.sha256 ?? null,
      lastModified: out.LastModified?.toISOString() ?? null,
    };
    if ((out.ContentLength ?? 0) > MAX_INDEX_BYTES) {
      out.Body?.transformToWebStream().cancel();
      return { ...base, error: `index.html is larger than ${MAX_INDEX_BYTES} bytes; not hashed` };
    }
    const body = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
    return { ...base, indexHtmlSha256: createHash("sha256").update(body).digest("hex") };
  } catch (error) {
    if (isAwsErrorNamed(error, "NoSuchKey")) return status;
    if (isAwsErrorNamed(error, "NoSuchBucket"))
      return { ...status, error: `bucket ${bucket} does not exist` };
    throw mapAwsError(error, "s3:GetObject", `s3://${bucket}/index.html`);
  }
}

/** Lambda reports CodeSha256 as base64; a record may hold base64 or hex. */
function sameCode(live: string | null, recorded: unknown): boolean {
  if (!live || typeof recorded !== "string" || !recorded) return false;
  if (recorded === live) return true;
  return /^[0-9a-f]{64}$/i.test(recorded) && Buffer.from(recorded, "hex").toString("base64") === live;
}

/** A release id as it may appear in server text: ids read from S3 must have the id shape. */
function idOf(releaseId: string): string {
  return isReleaseId(releaseId) ? releaseId : "(a release with an unreadable id)";
}

/**
 * The newest finished record whose `after` holds `field` is what should be live: a rolled-back,
 * failed or recovered release records what it left live, so a clean rollback is not drift.
 */
function expectedLive(records: ReleaseRecord[], field: string): ReleaseRecord | undefined {
  return records.find((r) => FINISHED.has(r.status) && typeof r.after?.[field] === "string");
}

/** A recovery that found live state from neither release leaves it unexplained. */
function unresolvedRecovery(what: string, records: ReleaseRecord[]): string[] {
  const newest = records.find((r) => FINISHED.has(r.status));
  if (newest?.status !== "recovered" || newest.recovery?.outcome !== "unresolved") return [];
  return [
    `${what}: interrupted release ${idOf(newest.releaseId)} was settled as unresolved (live state was neither its previous nor its new release) — check it by hand`,
  ];
}

function lambdaDrift(
  live: LambdaLiveStatus,
  records: ReleaseRecord[],
): { drift: string[]; deployed: boolean } {
  if (!live.exists) {
    const drift = records.length
      ? [
          `Lambda ${live.functionName} is not there although releases were recorded (${live.error ?? "not found"})`,
        ]
      : [];
    return { drift, deployed: false };
  }
  const expected = expectedLive(records, "codeSha256");
  if (!expected) {
    return {
      drift: [
        `Lambda ${live.functionName}: live code ${live.codeSha256 ?? "?"} matches no release record (deployed outside these tools, or before them)`,
      ],
      deployed: true,
    };
  }
  const drift = unresolvedRecovery(`Lambda ${live.functionName}`, records);
  if (!sameCode(live.codeSha256, expected.after.codeSha256)) {
    const older = live.matchedReleaseId
      ? `; it matches older release ${idOf(live.matchedReleaseId)}`
      : "; it matches no release";
    drift.push(
      `Lambda ${live.functionName}: live CodeSha256 ${live.codeSha256 ?? "?"} (last modified ${live.lastModified ?? "?"}) differs from release ${idOf(expected.releaseId)} (${String(expected.after.codeSha256)})${older} — changed outside the deploy tools`,
    );
  }
  if (live.weights) {
    const shares = Object.entries(live.weights)
      .map(([version, share]) => `${Math.round(share * 1000) / 10}% to version ${version}`)
      .join(", ");
    drift.push(
      `Lambda alias ${live.alias} splits its traffic (${shares}) and no release in progress explains it — a canary left behind or a change outside the deploy tools`,
    );
  }
  const recordedVersion = expected.after.version;
  if (live.alias && typeof recordedVersion === "string" && recordedVersion !== live.liveVersion) {
    drift.push(
      `Lambda alias ${live.alias} points at version ${live.liveVersion ?? "?"}, but release ${idOf(expected.releaseId)} left it at ${recordedVersion}`,
    );
  }
  return { drift, deployed: true };
}

function frontendDrift(
  live: FrontendLiveStatus,
  records: ReleaseRecord[],
): { drift: string[]; deployed: boolean } {
  const where = `s3://${live.bucket}/index.html`;
  if (live.error) return { drift: [`Frontend: ${live.error}`], deployed: live.indexHtmlPresent };
  if (!live.indexHtmlPresent) {
    return {
      drift: records.length ? [`Frontend: ${where} is missing although releases were recorded`] : [],
      deployed: false,
    };
  }
  const drift = unresolvedRecovery("Frontend", records);
  if (live.metadataSha256 === null) {
    drift.push(`Frontend: ${where} has no sha256 metadata (uploaded outside deploy_frontend)`);
  } else if (live.metadataSha256 !== live.indexHtmlSha256) {
    drift.push(
      `Frontend: ${where} content does not match its sha256 metadata (changed outside deploy_frontend)`,
    );
  }
  const expected = expectedLive(records, "indexHtmlSha256");
  if (!expected) {
    drift.push(
      `Frontend: live index.html matches no release record (deployed outside these tools, or before them)`,
    );
  } else if (expected.after.indexHtmlSha256 !== live.indexHtmlSha256) {
    const older = live.matchedReleaseId
      ? `; it matches older release ${idOf(live.matchedReleaseId)}`
      : "; it matches no release";
    drift.push(`Frontend: live index.html differs from release ${idOf(expected.releaseId)}${older}`);
  }
  return { drift, deployed: true };
}

function showLock(lock: LockInfo): NonNullable<LockStatus> {
  return {
    state: lock.state,
    releaseId: lock.releaseId,
    tool: lock.tool,
    component: lock.component,
    startedAt: lock.startedAt,
    expiresAt: lock.expiresAt,
    holder: lock.holder,
  };
}

function showInterrupted({ record, why }: InterruptedRelease): InterruptedReleaseStatus {
  return {
    releaseId: record.releaseId,
    component: record.component,
    tool: record.tool,
    phase: record.phase ?? null,
    startedAt: record.startedAt,
    why: bounded(why) ?? "",
    recoveryPlan: bounded(record.recoveryPlan),
  };
}

/** Text read back from S3, on one line and bounded. */
function bounded(text: string | undefined): string | null {
  const flat = (text ?? "").replace(CONTROL_CHARS, " ").replace(/\s+/g, " ").trim();
  return flat ? quote(flat, TEXT_CHARS) : null;
}

/**
 * What a record says the release left live: its `after` strings under these keys, in this
 * order, the absent and empty ones left out.
 */
function afterFacts<K extends string>(record: ReleaseRecord, keys: readonly K[]): Partial<Record<K, string>> {
  const facts: Partial<Record<K, string>> = {};
  for (const key of keys) {
    const value = record.after?.[key];
    if (typeof value === "string" && value) facts[key] = value;
  }
  return facts;
}

/** How a later call settled the release and the error it ended with, both bounded: the fields present. */
function recoveryAndError(record: ReleaseRecord): Pick<ReleaseSummary, "recovery" | "error"> {
  return {
    ...(record.recovery
      ? { recovery: { ...record.recovery, note: bounded(record.recovery.note) ?? "" } }
      : {}),
    ...(record.error ? { error: quote(record.error, 300) } : {}),
  };
}

function summariseRecord(r: ReleaseRecord): ReleaseSummary {
  return {
    component: r.component,
    releaseId: r.releaseId,
    tool: r.tool,
    status: r.status,
    phase: r.phase ?? null,
    who: r.who,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    gitSha: r.gitSha,
    ...afterFacts(r, ["version", "codeSha256", "indexHtmlSha256"]),
    ...(r.restoredFrom ? { restoredFrom: r.restoredFrom } : {}),
    ...(r.deployRole
      ? { deployRole: { ...r.deployRole, sourceIdentity: bounded(r.deployRole.sourceIdentity) ?? "" } }
      : {}),
    ...recoveryAndError(r),
  };
}

/**
 * Without an alias, $LATEST serves, and "version $LATEST" names nothing a person can roll back
 * to: say which code that is, and the version a release published it as.
 */
function latestText(lambda: DeployStatusReport["lambda"], releases: ReleaseSummary[]): string {
  if (lambda.liveVersion !== "$LATEST" || !lambda.codeSha256) return `version ${lambda.liveVersion}`;
  const matched = releases.find((r) => r.component === "lambda" && r.releaseId === lambda.matchedReleaseId);
  const version = matched?.version && /^\d+$/.test(matched.version) ? matched.version : null;
  return `$LATEST (${version ? `code of version ${version}, ` : ""}CodeSha256 ${lambda.codeSha256})`;
}

/**
 * One paragraph in the server's own words: names from the config, counts, release ids (of the
 * id shape), statuses, phases and verdicts. Never a lock holder, a record's caller, an error
 * or a recovery plan read back from S3: those stay in their own fields.
 */
function summarise(envName: string, report: Omit<DeployStatusReport, "summary">): string {
  const { lambda, frontend, releases, drift, lock, interrupted } = report;
  const lambdaText = lambda.exists
    ? `Lambda ${lambda.functionName} ${lambda.alias ? `alias ${lambda.alias} → version ${lambda.liveVersion}` : latestText(lambda, releases)}${lambda.matchedReleaseId ? ` (release ${idOf(lambda.matchedReleaseId)})` : ""}`
    : `Lambda ${lambda.functionName} not found`;
  const frontendText = frontend.indexHtmlPresent
    ? `frontend index.html ${frontend.indexHtmlSha256?.slice(0, 12) ?? "?"}${frontend.matchedReleaseId ? ` (release ${idOf(frontend.matchedReleaseId)})` : ""}`
    : `frontend index.html ${frontend.error ?? "missing"}`;
  const lockText = lock ? `deploy lock ${lock.state} (release ${idOf(lock.releaseId)})` : "no deploy lock";
  const interruptedText = interrupted.length
    ? `; ${interrupted.length} interrupted release(s): ${interrupted
        .map((i) => `${idOf(i.releaseId)} (${i.component}, phase ${i.phase ?? "none"})`)
        .join(", ")} — the next guarded call settles them`
    : "";
  const last = releases[0];
  const lastText = last
    ? `last release ${idOf(last.releaseId)} (${last.component}, ${last.status}${last.phase ? `, phase ${last.phase}` : ""})`
    : "no releases recorded";
  const notCompared = [lambda, frontend]
    .map((c, i) =>
      c.verdict === "in_progress" || c.verdict === "interrupted"
        ? `${i === 0 ? "lambda" : "frontend"} not compared (${c.verdict === "in_progress" ? "release in progress" : "interrupted release"})`
        : null,
    )
    .filter((t): t is string => t !== null);
  const driftText = drift.length
    ? `${drift.length} drift finding(s): ${drift[0]}${drift.length > 1 ? " …" : ""}`
    : "no drift";
  const compared = notCompared.length ? `${notCompared.join(", ")}; ` : "";
  return `${envName}: ${lambdaText}; ${frontendText}; ${lockText}${interruptedText}; ${lastText}; ${compared}${driftText}.`;
}
