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
import { DeployError } from "../core/errors.js";
import { listReleaseRecords } from "../release/records.js";
import type { Component, ReleaseRecord } from "../release/types.js";

export interface LambdaLiveStatus {
  functionName: string;
  exists: boolean;
  alias: string | null;
  /** The version the alias points at, or "$LATEST" when no alias is configured. */
  liveVersion: string | null;
  codeSha256: string | null;
  lastModified: string | null;
  state: string | null;
  lastUpdateStatus: string | null;
  /** Release whose recorded live code equals what is live now. */
  matchedReleaseId: string | null;
  error?: string;
}

export interface FrontendLiveStatus {
  bucket: string;
  url: string | null;
  indexHtmlPresent: boolean;
  /** SHA-256 (hex) of the live index.html content. */
  indexHtmlSha256: string | null;
  /** The `sha256` user metadata deploy_frontend stores with each object. */
  metadataSha256: string | null;
  lastModified: string | null;
  matchedReleaseId: string | null;
  error?: string;
}

export interface ReleaseSummary {
  component: string;
  releaseId: string;
  tool: string;
  status: string;
  who: string | null;
  startedAt: string;
  finishedAt: string | null;
  gitSha: string | null;
  version?: string;
  codeSha256?: string;
  indexHtmlSha256?: string;
  restoredFrom?: string;
  error?: string;
}

export interface DeployStatusReport {
  lambda: LambdaLiveStatus;
  frontend: FrontendLiveStatus;
  releases: ReleaseSummary[];
  drift: string[];
  summary: string;
}

export interface ReadDeployStatusOptions {
  lambda: LambdaClient;
  s3: S3Client;
  env: EnvConfig;
  envName: string;
  now: Date;
  /** An in_progress record older than this is reported (its deploy likely died). */
  staleAfterMinutes: number;
  releasesPerComponent?: number;
}

// index.html is a small entry point; a bigger object is not something we hash in a status call.
const MAX_INDEX_BYTES = 5 * 1024 * 1024;

/**
 * What is live per component, the last releases, and drift: live state that no release
 * record explains (a hand deploy, a half-finished release, a missing entry point).
 */
export async function readDeployStatus(options: ReadDeployStatusOptions): Promise<DeployStatusReport> {
  const { env, envName } = options;
  const limit = options.releasesPerComponent ?? 5;
  const bucket = env.lambda.artifactBucket;
  const drift: string[] = [];
  const [lambda, frontend, lambdaRecords, frontendRecords] = await Promise.all([
    readLambdaLive(options.lambda, env),
    readFrontendLive(options.s3, env),
    readRecords(options.s3, bucket, envName, "lambda", limit, drift),
    readRecords(options.s3, bucket, envName, "frontend", limit, drift),
  ]);

  lambda.matchedReleaseId =
    lambdaRecords.find((r) => sameCode(lambda.codeSha256, r.after.codeSha256))?.releaseId ?? null;
  drift.push(...lambdaDrift(lambda, lambdaRecords));
  frontend.matchedReleaseId =
    frontendRecords.find(
      (r) => frontend.indexHtmlSha256 !== null && r.after.indexHtmlSha256 === frontend.indexHtmlSha256,
    )?.releaseId ?? null;
  drift.push(...frontendDrift(frontend, frontendRecords));
  drift.push(
    ...staleInProgress([...lambdaRecords, ...frontendRecords], options.now, options.staleAfterMinutes),
  );

  const releases = [...lambdaRecords, ...frontendRecords]
    .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0))
    .map(summariseRecord);
  return {
    lambda,
    frontend,
    releases,
    drift,
    summary: summarise(envName, lambda, frontend, releases, drift),
  };
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
  };
  try {
    let qualifier: string | undefined;
    if (alias) {
      const out = await lambda.send(new GetAliasCommand({ FunctionName: functionName, Name: alias }));
      qualifier = out.FunctionVersion;
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

/**
 * The newest finished record's `after` is what should be live: a rolled-back or failed
 * release records the code it left live, so a clean rollback is not drift.
 */
function expectedLive(records: ReleaseRecord[], field: string): ReleaseRecord | undefined {
  return records.find((r) => r.status !== "in_progress" && typeof r.after?.[field] === "string");
}

function lambdaDrift(live: LambdaLiveStatus, records: ReleaseRecord[]): string[] {
  if (!live.exists) {
    return records.length
      ? [
          `Lambda ${live.functionName} is not there although releases were recorded (${live.error ?? "not found"})`,
        ]
      : [];
  }
  const expected = expectedLive(records, "codeSha256");
  if (!expected) {
    return [
      `Lambda ${live.functionName}: live code ${live.codeSha256 ?? "?"} matches no release record (deployed outside these tools, or before them)`,
    ];
  }
  const drift: string[] = [];
  if (!sameCode(live.codeSha256, expected.after.codeSha256)) {
    const older = live.matchedReleaseId
      ? `; it matches older release ${live.matchedReleaseId}`
      : "; it matches no release";
    drift.push(
      `Lambda ${live.functionName}: live CodeSha256 ${live.codeSha256 ?? "?"} (last modified ${live.lastModified ?? "?"}) differs from release ${expected.releaseId} (${String(expected.after.codeSha256)})${older} — changed outside the deploy tools`,
    );
  }
  const recordedVersion = expected.after.version;
  if (live.alias && typeof recordedVersion === "string" && recordedVersion !== live.liveVersion) {
    drift.push(
      `Lambda alias ${live.alias} points at version ${live.liveVersion ?? "?"}, but release ${expected.releaseId} left it at ${recordedVersion}`,
    );
  }
  return drift;
}

function frontendDrift(live: FrontendLiveStatus, records: ReleaseRecord[]): string[] {
  const where = `s3://${live.bucket}/index.html`;
  if (live.error) return [`Frontend: ${live.error}`];
  if (!live.indexHtmlPresent) {
    return records.length ? [`Frontend: ${where} is missing although releases were recorded`] : [];
  }
  const drift: string[] = [];
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
      ? `; it matches older release ${live.matchedReleaseId}`
      : "; it matches no release";
    drift.push(`Frontend: live index.html differs from release ${expected.releaseId}${older}`);
  }
  return drift;
}

function staleInProgress(records: ReleaseRecord[], now: Date, staleAfterMinutes: number): string[] {
  const cutoff = now.getTime() - staleAfterMinutes * 60_000;
  return records
    .filter((r) => r.status === "in_progress" && Date.parse(r.startedAt) < cutoff)
    .map(
      (r) =>
        `Release ${r.releaseId} (${r.component}, ${r.tool}) has been in progress since ${r.startedAt}, longer than the ${staleAfterMinutes}-minute lock timeout: it likely died mid-way; check the live state above and the deploy lock`,
    );
}

function summariseRecord(r: ReleaseRecord): ReleaseSummary {
  const pick = (key: string) => (typeof r.after?.[key] === "string" ? (r.after[key] as string) : undefined);
  const version = pick("version");
  const codeSha256 = pick("codeSha256");
  const indexHtmlSha256 = pick("indexHtmlSha256");
  return {
    component: r.component,
    releaseId: r.releaseId,
    tool: r.tool,
    status: r.status,
    who: r.who,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    gitSha: r.gitSha,
    ...(version ? { version } : {}),
    ...(codeSha256 ? { codeSha256 } : {}),
    ...(indexHtmlSha256 ? { indexHtmlSha256 } : {}),
    ...(r.restoredFrom ? { restoredFrom: r.restoredFrom } : {}),
    ...(r.error ? { error: r.error.slice(0, 300) } : {}),
  };
}

function summarise(
  envName: string,
  lambda: LambdaLiveStatus,
  frontend: FrontendLiveStatus,
  releases: ReleaseSummary[],
  drift: string[],
): string {
  const lambdaText = lambda.exists
    ? `Lambda ${lambda.functionName} ${lambda.alias ? `alias ${lambda.alias} → ` : ""}version ${lambda.liveVersion}${lambda.matchedReleaseId ? ` (release ${lambda.matchedReleaseId})` : ""}`
    : `Lambda ${lambda.functionName} not found`;
  const frontendText = frontend.indexHtmlPresent
    ? `frontend index.html ${frontend.indexHtmlSha256?.slice(0, 12) ?? "?"}${frontend.matchedReleaseId ? ` (release ${frontend.matchedReleaseId})` : ""}`
    : `frontend index.html ${frontend.error ?? "missing"}`;
  const last = releases[0];
  const lastText = last
    ? `last release ${last.releaseId} (${last.component}, ${last.status}, by ${last.who ?? "?"})`
    : "no releases recorded";
  const driftText = drift.length
    ? `${drift.length} drift finding(s): ${drift[0]}${drift.length > 1 ? " …" : ""}`
    : "no drift";
  return `${envName}: ${lambdaText}; ${frontendText}; ${lastText}; ${driftText}.`;
}
