import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GetAliasCommand, GetFunctionConfigurationCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { Progress } from "@modelcontextprotocol/sdk/types.js";
import { writeSampleApp } from "../../src/demo/sample-app.js";
import { referencedKeys } from "../../src/deploy/frontend/integrity.js";
import type { ReleaseRecord } from "../../src/release/types.js";
import type { RuleHandle } from "../support/fault-proxy.js";
import { bodyText } from "../support/s3-body.js";
import { BUILT_SERVER } from "../support/stdio.js";

/**
 * The pieces of the kill tests: a built stdio server whose PID we hold (so it can be SIGKILLed
 * at an exact point of a release), an app repo with a per-test env, and read-backs of what a
 * dead release left in the emulator (its record, the lock, live code, live entry points).
 */

/**
 * release.lockTtlSeconds of the apps: short, so a dead release's lock expires within seconds.
 * Not the minimum 5: the heartbeat then refreshes every 1.25 s, and a refresh slower than that
 * (moto busy with a frontend's 8 parallel uploads) trips the heartbeat bug that
 * runHeartbeatRace in kill-recovery.test.ts exposes; that bug has its own test and must not
 * decide whether recovery works here.
 */
export const LOCK_TTL_SECONDS = 10;
export const ARTIFACT_BUCKET = "kill-artifacts";

export type Structured = Record<string, unknown>;

export interface CallResult {
  isError: boolean;
  s: Structured;
  text: string;
  progress: string[];
}

export interface Server {
  readonly pid: number;
  client: Client;
  stderr(): string;
  /** Calls a tool; progress messages are collected and handed to onProgress as they arrive. */
  call(name: string, args: Structured, onProgress?: (message: string) => void): Promise<CallResult>;
  /** SIGKILL, then waits until the client saw the process go. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

/** Spawns dist/main.js with the SDK's stdio transport; the transport's pid is the server's. */
export async function startServer(cwd: string, endpoint: string): Promise<Server> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BUILT_SERVER],
    cwd,
    env: { ...(process.env as Record<string, string>), AWS_ENDPOINT_URL: endpoint },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = new Client({ name: "vyaparai-kill-tests", version: "0.0.0" });
  let closed = false;
  const closedWaiters: Array<() => void> = [];
  client.onclose = () => {
    closed = true;
    for (const resolve of closedWaiters.splice(0)) resolve();
  };
  await client.connect(transport);
  const pid = transport.pid;
  if (!pid) throw new Error("the stdio transport has no pid");
  return {
    pid,
    client,
    stderr: () => stderr,
    async call(name, args, onProgress) {
      const progress: string[] = [];
      const result = await client.callTool({ name, arguments: args }, undefined, {
        timeout: 120_000,
        resetTimeoutOnProgress: true,
        onprogress: (p: Progress) => {
          const message = String(p.message ?? "");
          progress.push(message);
          onProgress?.(message);
        },
      });
      const text = (result.content as Array<{ text: string }>)[0]?.text ?? "";
      return {
        isError: Boolean(result.isError),
        s: (result.structuredContent ?? {}) as Structured,
        text,
        progress,
      };
    },
    async kill() {
      process.kill(pid, "SIGKILL");
      if (!closed) await Promise.race([new Promise<void>((r) => closedWaiters.push(r)), sleep(10_000)]);
      // The OS must have reaped it: no late request from it may reach the emulator.
      for (let i = 0; i < 200 && alive(pid); i++) await sleep(25);
      if (alive(pid)) throw new Error(`server ${pid} still alive after SIGKILL`);
    },
    async close() {
      await client.close().catch(() => {});
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a tool call and SIGKILLs the server at the trigger: a held request (fault-proxy hang
 * rule) or a progress message. Returns the progress seen; throws if the call finished first.
 */
export async function callAndKill(
  server: Server,
  name: string,
  args: Structured,
  trigger: { rule: RuleHandle } | { progress: RegExp },
): Promise<{ progress: string[]; killedAt: number }> {
  const seen: string[] = [];
  let onProgressHit: (() => void) | undefined;
  const progressHit = new Promise<void>((resolve) => {
    onProgressHit = resolve;
  });
  const call = server.call(name, args, (message) => {
    seen.push(message);
    if ("progress" in trigger && trigger.progress.test(message)) onProgressHit?.();
  });
  // The call is expected to die with the server; its rejection is the normal outcome.
  const finished = call.then(
    (result) => ({ finished: true as const, result }),
    () => ({ finished: false as const }),
  );
  const hit = "rule" in trigger ? trigger.rule.waitForHit().then(() => undefined) : progressHit;
  const first = await Promise.race([hit.then(() => "hit" as const), finished]);
  if (first !== "hit") {
    const detail = first.finished ? first.result.text : "the call failed";
    throw new Error(`${name} ended before the kill point was reached: ${detail}\n${server.stderr()}`);
  }
  await server.kill();
  const killedAt = Date.now();
  const after = await finished;
  if (after.finished) throw new Error(`${name} answered although its server was killed`);
  return { progress: seen, killedAt };
}

const apps: string[] = [];

/** An app repo (git) whose deploy.config.json has one env; backend and frontend need no commands. */
export function makeApp(env: string, envConfig: Structured, lockTtlSeconds = LOCK_TTL_SECONDS): string {
  const root = mkdtempSync(join(tmpdir(), "vyaparai-kill-app-"));
  apps.push(root);
  writeSampleApp({
    root,
    config: {
      environments: { [env]: envConfig },
      // A protected env needs a test command; this one reports one passing test.
      backend: { testCommand: "echo '1 passed in 0.01s'" },
      frontend: { buildCommand: null, testCommand: null },
      release: { lockTtlSeconds, undoBudgetSeconds: 30 },
    },
  });
  return root;
}

/** Removes every app repo makeApp made (2,000-file dists included). */
export function removeApps(): void {
  for (const root of apps.splice(0)) rmSync(root, { recursive: true, force: true });
}

export function envConfigFor(options: {
  functionName: string;
  alias?: string | null;
  siteBucket: string;
  healthUrl?: string;
  prefix: string;
}): Structured {
  return {
    lambda: {
      functionName: options.functionName,
      alias: options.alias ?? null,
      artifactBucket: ARTIFACT_BUCKET,
      artifactPrefix: options.prefix,
    },
    frontend: { buckets: [options.siteBucket], distributionId: null, url: null },
    health: options.healthUrl
      ? [
          {
            name: "api",
            url: options.healthUrl,
            expectStatus: 200,
            expectJson: { status: "ok" },
            timeoutMs: 2000,
          },
        ]
      : [],
    tables: { expected: [] },
  };
}

// ---- read-backs -------------------------------------------------------------------------

export async function readText(s3: S3Client, bucket: string, key: string): Promise<string | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await bodyText(out);
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return null;
    throw error;
  }
}

export async function readBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
  } catch (error) {
    if ((error as { name?: string }).name === "NoSuchKey") return null;
    throw error;
  }
}

export async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === "NotFound" || name === "NoSuchKey") return false;
    throw error;
  }
}

export async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of out.Contents ?? []) keys.push(o.Key as string);
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** Every release record of an env and component, read straight from the artifact bucket. */
export async function readRecords(s3: S3Client, env: string, component: string): Promise<ReleaseRecord[]> {
  const keys = await listKeys(s3, ARTIFACT_BUCKET, `releases/${env}/${component}/`);
  const records: ReleaseRecord[] = [];
  for (const key of keys) {
    const text = await readText(s3, ARTIFACT_BUCKET, key);
    if (text) records.push(JSON.parse(text) as ReleaseRecord);
  }
  return records;
}

export async function readRecord(
  s3: S3Client,
  env: string,
  component: string,
  releaseId: string,
): Promise<ReleaseRecord> {
  const text = await readText(s3, ARTIFACT_BUCKET, `releases/${env}/${component}/${releaseId}.json`);
  if (!text) throw new Error(`no record ${releaseId}`);
  return JSON.parse(text) as ReleaseRecord;
}

export interface LockBody {
  releaseId: string;
  expiresAt: string;
  nonce: string;
}

export async function readLock(s3: S3Client, env: string): Promise<LockBody | null> {
  const text = await readText(s3, ARTIFACT_BUCKET, `locks/${env}.json`);
  return text ? (JSON.parse(text) as LockBody) : null;
}

/** Waits until the dead release's lock expired (no heartbeat pushes it any more). */
export async function waitForLockExpiry(s3: S3Client, env: string): Promise<void> {
  const lock = await readLock(s3, env);
  if (!lock) return;
  const wait = Date.parse(lock.expiresAt) - Date.now() + 150;
  if (wait > 0) await sleep(wait);
  const again = await readLock(s3, env);
  // Safety of the test itself: the dead server must not have refreshed its lock meanwhile.
  if (again && again.expiresAt !== lock.expiresAt) throw new Error("the dead server's lock was refreshed");
}

/** What the function serves: the alias's version and its code, or $LATEST. */
export async function liveCode(
  lambda: LambdaClient,
  functionName: string,
  alias: string | null,
): Promise<{ version: string; codeSha256: string }> {
  let version = "$LATEST";
  if (alias) {
    const out = await lambda.send(new GetAliasCommand({ FunctionName: functionName, Name: alias }));
    version = out.FunctionVersion as string;
  }
  const cfg = await lambda.send(
    new GetFunctionConfigurationCommand({
      FunctionName: functionName,
      ...(alias ? { Qualifier: version } : {}),
    }),
  );
  return { version, codeSha256: cfg.CodeSha256 as string };
}

export async function latestCode(lambda: LambdaClient, functionName: string): Promise<string> {
  const cfg = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
  return cfg.CodeSha256 as string;
}

export const sha256Hex = (bytes: Buffer | string) => createHash("sha256").update(bytes).digest("hex");

export const ENTRY_POINTS = ["index.html", "sw.js", "manifest.webmanifest", "registerSW.js"];

/**
 * The site as a visitor gets it: every entry point's bytes compared with builds we know, and
 * every file the live index.html and sw.js reference checked in the bucket.
 */
export async function readSite(
  s3: S3Client,
  bucket: string,
  builds: Record<string, Map<string, Buffer>>,
): Promise<{
  /** Entry point → names of the builds whose bytes it holds ([] for none, null when missing). */
  owners: Record<string, string[] | null>;
  missingReferences: string[];
  referencesChecked: number;
}> {
  const owners: Record<string, string[] | null> = {};
  for (const key of ENTRY_POINTS) {
    const bytes = await readBytes(s3, bucket, key);
    if (bytes === null) {
      owners[key] = null;
      continue;
    }
    const hash = sha256Hex(bytes);
    owners[key] = Object.entries(builds)
      .filter(([, files]) => {
        const own = files.get(key);
        return own !== undefined && sha256Hex(own) === hash;
      })
      .map(([name]) => name);
  }
  const html = (await readText(s3, bucket, "index.html")) ?? "";
  const sw = (await readText(s3, bucket, "sw.js")) ?? "";
  const precache = /self\.__WB_MANIFEST=(\[.*?\]);/.exec(sw)?.[1];
  const references = new Set(referencedKeys(html));
  if (precache) for (const entry of JSON.parse(precache) as Array<{ url: string }>) references.add(entry.url);
  // One listing instead of ~2,000 HeadObjects: moto is one process shared by the whole file.
  const present = new Set(await listKeys(s3, bucket, ""));
  const missing = [...references].filter((key) => !present.has(key));
  return { owners, missingReferences: missing.sort(), referencesChecked: references.size };
}

/** One line of the kill table printed at the end of the file. */
export interface KillRow {
  case: string;
  killPoint: string;
  phaseRecorded: string;
  statusReported: string;
  outcome: string;
  liveAfter: string;
  /** Kill → the settling call started (the wait is the dead lock's TTL). */
  waitedMs: number;
  /** Kill → the settling call answered. */
  settleMs: number;
}

export function printKillTable(rows: KillRow[]): void {
  const header =
    "| case | kill point | phase recorded | new process reported | recovery outcome | live after (read back) | kill→call / kill→settled |";
  const lines = [header, "|---|---|---|---|---|---|---|"];
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  for (const r of [...rows].sort((a, b) => a.case.localeCompare(b.case))) {
    lines.push(
      `| ${r.case} | ${r.killPoint} | ${r.phaseRecorded} | ${r.statusReported} | ${r.outcome} | ${r.liveAfter} | ${s(r.waitedMs)} / ${s(r.settleMs)} |`,
    );
  }
  process.stdout.write(`\n${lines.join("\n")}\n`);
}
