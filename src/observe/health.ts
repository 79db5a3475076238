import { setTimeout as sleep } from "node:timers/promises";
import { GetFunctionConfigurationCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import { mapAwsError } from "../aws/errors.js";
import type { HealthTarget } from "../config/schema.js";
import { CancelledError, throwIfAborted } from "../core/errors.js";
import { quote } from "../core/quote.js";
import { redactText } from "../core/redact.js";
import type { HealthReport, HealthVerdict, LambdaHealth, TargetHealth } from "./health-schema.js";
import { percentile } from "./log-stats.js";

export type { HealthReport, HealthVerdict, LambdaHealth, TargetHealth } from "./health-schema.js";

export interface CheckHealthOptions {
  targets: HealthTarget[];
  attempts: number;
  /** Pause between attempts on one target. Default 1000 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
  lambda?: { client: LambdaClient; functionName: string; qualifier?: string } | null;
  onProgress?: (message: string) => void;
  fetchImpl?: typeof fetch;
}

interface AttemptResult {
  passed: boolean;
  status: number | null;
  /** Wall time of request and body read; null when no HTTP answer came back. */
  latencyMs: number | null;
  problem?: string;
}

// Health bodies are small; reading more only costs memory and time on a broken endpoint.
export const MAX_BODY_BYTES = 64 * 1024;
/** Redirects followed per attempt, each only to the same host (and never https → http). */
export const MAX_REDIRECTS = 3;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const BODY_EXCERPT_CHARS = 200;
const RANK: Record<HealthVerdict, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

function worst(verdicts: HealthVerdict[]): HealthVerdict {
  return verdicts.reduce<HealthVerdict>((a, b) => (RANK[b] > RANK[a] ? b : a), "healthy");
}

/**
 * Calls each target `attempts` times (targets in parallel, attempts in sequence with a pause)
 * and reads the Lambda's State/LastUpdateStatus. The deploy tools use this as their health
 * gate, so the verdict is conservative: anything short of every attempt passing in time is
 * at least degraded.
 *
 * No HTTP targets: verdict at best "degraded" ("nothing was checked") — calling that
 * "healthy" would claim a check that never ran, and "unhealthy" would fail (and roll back)
 * deploys of envs that simply have no endpoint configured. The Lambda's state can still make
 * it unhealthy.
 */
export async function checkHealth(options: CheckHealthOptions): Promise<HealthReport> {
  const { targets, signal } = options;
  const attempts = Math.max(1, Math.floor(options.attempts));
  const intervalMs = options.intervalMs ?? 1000;
  const fetchImpl = options.fetchImpl ?? fetch;
  throwIfAborted(signal);

  const lambdaPromise = options.lambda ? readLambdaHealth(options.lambda) : Promise.resolve(null);
  const targetResults = await Promise.all(
    targets.map(async (target) => {
      const results: AttemptResult[] = [];
      for (let i = 0; i < attempts; i++) {
        if (i > 0) await pause(intervalMs, signal);
        results.push(await attemptOnce(target, fetchImpl, signal));
      }
      const health = classifyTarget(target, results);
      options.onProgress?.(`${target.name}: ${health.verdict} (${health.passed}/${attempts} passed)`);
      return health;
    }),
  );
  const lambda = await lambdaPromise;

  if (targets.length === 0 && !lambda) {
    return {
      verdict: "degraded",
      targets: [],
      lambda: null,
      summary: "No health targets configured: nothing was checked.",
    };
  }
  const verdicts = targetResults.map((t) => t.verdict);
  if (lambda) verdicts.push(classifyLambda(lambda));
  // Safety: a Lambda that is Active says nothing about whether the API answers; without an
  // HTTP target the verdict is at best degraded, so a CI gate never passes on no check at all.
  if (targets.length === 0) verdicts.push("degraded");
  const verdict = worst(verdicts);
  const summary = summarise(verdict, targetResults, lambda);
  return {
    verdict,
    targets: targetResults,
    lambda,
    summary:
      targets.length === 0
        ? `${summary.slice(0, -1)}; no HTTP health target configured, so no endpoint was checked.`
        : summary,
  };
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch {
    throw new CancelledError();
  }
}

async function attemptOnce(
  target: HealthTarget,
  fetchImpl: typeof fetch,
  signal: AbortSignal | undefined,
): Promise<AttemptResult> {
  throwIfAborted(signal);
  const timeout = AbortSignal.timeout(target.timeoutMs);
  const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
  const started = performance.now();
  let status: number;
  let body: string;
  try {
    const answer = await fetchSameHost(target, fetchImpl, combined);
    if ("refused" in answer) {
      const latencyMs = Math.max(performance.now() - started, 0.001);
      return { passed: false, status: answer.status, latencyMs, problem: answer.refused };
    }
    status = answer.response.status;
    body = await readBounded(answer.response);
  } catch (error) {
    if (signal?.aborted) throw new CancelledError();
    const latencyMs = null;
    if (timeout.aborted)
      return { passed: false, status: null, latencyMs, problem: `timed out after ${target.timeoutMs} ms` };
    return { passed: false, status: null, latencyMs, problem: connectionProblem(error) };
  }
  const latencyMs = Math.max(performance.now() - started, 0.001);
  if (status !== target.expectStatus) {
    return {
      passed: false,
      status,
      latencyMs,
      problem: `expected status ${target.expectStatus}, got ${status}${excerpt(body)}`,
    };
  }
  if (target.expectJson) {
    const mismatch = jsonMismatch(body, target.expectJson);
    if (mismatch) return { passed: false, status, latencyMs, problem: `${mismatch}${excerpt(body)}` };
  }
  return { passed: true, status, latencyMs };
}

/**
 * GETs the target, following at most MAX_REDIRECTS redirects and only to the target's own
 * host (an https target never down to http). Safety: a health URL must not become a way to
 * make this server call any host, so a redirect elsewhere is reported, not followed. A
 * target that expects a redirect status gets the redirect itself.
 */
async function fetchSameHost(
  target: HealthTarget,
  fetchImpl: typeof fetch,
  signal: AbortSignal,
): Promise<{ response: Response } | { refused: string; status: number }> {
  const origin = new URL(target.url);
  let current = origin;
  for (let followed = 0; ; followed++) {
    const response = await fetchImpl(current.href, {
      signal,
      redirect: "manual",
      headers: { accept: "application/json, text/plain;q=0.9, */*;q=0.5" },
    });
    const { status } = response;
    if (!REDIRECT_STATUSES.has(status) || status === target.expectStatus) return { response };
    const location = response.headers.get("location");
    await discardBody(response);
    if (!location || !URL.canParse(location, current.href)) {
      return { refused: `HTTP ${status} redirect without a usable Location header`, status };
    }
    const next = new URL(location, current);
    const downgrade = current.protocol === "https:" && next.protocol !== "https:";
    if (next.hostname !== origin.hostname || !/^https?:$/.test(next.protocol) || downgrade) {
      const where = `${next.protocol}//${next.host}`;
      return {
        refused: `HTTP ${status} redirect to ${downgrade && next.hostname === origin.hostname ? "plain http on the same host" : "another host"} (${quote(where)}) not followed; only redirects to ${origin.host} are followed. Configure the final URL as the target.`,
        status,
      };
    }
    if (followed >= MAX_REDIRECTS) {
      return {
        refused: `more than ${MAX_REDIRECTS} redirects (HTTP ${status} after ${followed}); not followed further. Configure the final URL as the target.`,
        status,
      };
    }
    current = next;
  }
}

async function discardBody(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // The connection is gone already: nothing to release.
  }
}

/**
 * Reads at most MAX_BODY_BYTES of the body, then cancels the rest (the connection is closed,
 * nothing more is downloaded). Time is bounded by the attempt's timeout signal, which aborts
 * a body read that stalls.
 */
async function readBounded(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (size >= MAX_BODY_BYTES) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString("utf8");
}

/** At most QUOTE_CHARS of outside text, redacted, control characters replaced. */

function connectionProblem(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code ?? (error as { code?: string })?.code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found (DNS)";
  if (code) return `request failed (${code})`;
  return `request failed: ${redactText(String(cause?.message ?? (error as Error)?.message ?? error)).slice(0, 200)}`;
}

function jsonMismatch(
  body: string,
  expected: Record<string, string | number | boolean | null>,
): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return "body is not JSON";
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return "body is not a JSON object";
  const record = parsed as Record<string, unknown>;
  for (const [key, value] of Object.entries(expected)) {
    if (record[key] !== value) return `body field "${key}" is not ${JSON.stringify(value)}`;
  }
  return null;
}

/**
 * Safety: the body is untrusted text; only a short, redacted, single-line excerpt is kept.
 * The whole (bounded) body is redacted before it is cut, so a secret the cut would split
 * (a PEM block without its END line) is still recognised.
 */
function excerpt(body: string): string {
  const oneLine = redactText(body).replace(/\s+/g, " ").trim();
  if (!oneLine) return "";
  const cut = oneLine.length > BODY_EXCERPT_CHARS ? `${oneLine.slice(0, BODY_EXCERPT_CHARS)}…` : oneLine;
  return `; body excerpt (untrusted): ${JSON.stringify(cut)}`;
}

function classifyTarget(target: HealthTarget, results: AttemptResult[]): TargetHealth {
  const latencies = results.flatMap((r) => (r.latencyMs === null ? [] : [r.latencyMs]));
  const p50 = percentile(latencies, 50);
  const p95 = percentile(latencies, 95);
  const passed = results.filter((r) => r.passed).length;
  const answered = results.filter((r) => r.status !== null);
  const status = answered.length ? (answered[answered.length - 1]?.status ?? null) : null;
  let verdict: HealthVerdict;
  let error: string | undefined;
  const firstProblem = results.find((r) => !r.passed)?.problem;
  if (passed === 0) {
    verdict = "unhealthy";
    error = firstProblem;
  } else if (passed < results.length) {
    verdict = "degraded";
    error = `${results.length - passed}/${results.length} attempts failed: ${firstProblem}`;
  } else if (p95 !== null && p95 > target.slowMs) {
    verdict = "degraded";
    error = `slow: p95 ${Math.round(p95)} ms > ${target.slowMs} ms`;
  } else {
    verdict = "healthy";
  }
  return {
    name: target.name,
    url: target.url,
    ok: verdict === "healthy",
    verdict,
    status,
    p50Ms: p50 === null ? null : round(p50),
    p95Ms: p95 === null ? null : round(p95),
    attempts: results.length,
    passed,
    ...(error ? { error } : {}),
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

async function readLambdaHealth(lambda: NonNullable<CheckHealthOptions["lambda"]>): Promise<LambdaHealth> {
  try {
    const out = await lambda.client.send(
      new GetFunctionConfigurationCommand({
        FunctionName: lambda.functionName,
        ...(lambda.qualifier ? { Qualifier: lambda.qualifier } : {}),
      }),
    );
    return { state: out.State ?? null, lastUpdateStatus: out.LastUpdateStatus ?? null };
  } catch (error) {
    const mapped = mapAwsError(error, "lambda:GetFunctionConfiguration", lambda.functionName);
    return { state: null, lastUpdateStatus: null, error: mapped.message };
  }
}

/**
 * Failed/Inactive functions cannot serve; Pending/InProgress are mid-change. moto and older
 * accounts may report no State at all, which is not evidence of a problem.
 */
function classifyLambda(lambda: LambdaHealth): HealthVerdict {
  if (lambda.error) return "unhealthy";
  const state = lambda.state ?? "";
  const update = lambda.lastUpdateStatus ?? "";
  if (state === "Failed" || state === "Inactive" || update === "Failed") return "unhealthy";
  if (state === "Pending" || update === "InProgress") return "degraded";
  return "healthy";
}

function summarise(verdict: HealthVerdict, targets: TargetHealth[], lambda: LambdaHealth | null): string {
  const parts = targets.map((t) => {
    const what = t.status === null ? (t.passed === 0 ? "no answer" : "") : `HTTP ${t.status}`;
    const p95 = t.p95Ms === null ? "" : `, p95 ${Math.round(t.p95Ms)} ms`;
    return `${t.name} ${t.verdict} (${what}${p95}, ${t.passed}/${t.attempts} passed)`;
  });
  if (lambda) {
    parts.push(
      lambda.error
        ? `Lambda state unknown (${lambda.error})`
        : `Lambda ${lambda.state ?? "?"}/${lambda.lastUpdateStatus ?? "?"}`,
    );
  }
  return `Verdict ${verdict}: ${parts.join("; ")}.`;
}
