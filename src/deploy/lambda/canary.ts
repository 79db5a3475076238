import { setTimeout as sleep } from "node:timers/promises";
import type { CanaryTuning } from "../../config/schema.js";
import { CancelledError, DeployError, describeError } from "../../core/errors.js";
import { CanaryLogReader } from "../../observe/canary-logs.js";
import type {
  CanaryEvidence,
  CanaryThresholds,
  CanaryVerdict,
  VersionFigures,
} from "../../observe/canary-schema.js";
import { checkHealth, type HealthVerdict } from "../../observe/health.js";
import { resolveLogGroup } from "../../observe/log-group.js";
import type { StepIo } from "../../release/spec.js";
import type { LambdaDeps } from "./deps.js";
import type { LambdaCanaryPlan } from "./plan.js";

/**
 * A Lambda canary's bake: while the alias sends a share of its traffic to the new version,
 * read both versions' figures from their own log streams over the same window, check the
 * health targets, record the figures in the release record and report progress at every
 * check; stop early when the canary clearly fails, and at the end say whether it passed.
 */

/** Unhealthy health checks in a row that end a bake (one is a blip; the promotion's gate runs anyway). */
export const UNHEALTHY_CHECKS_IN_A_ROW = 2;

/** What a deploy_lambda call asked for and the config says, resolved. */
export interface CanarySettings {
  percent: number;
  bakeMinutes: number;
  thresholds: CanaryThresholds;
  checkIntervalMs: number;
}

export function canaryPlanOf(settings: CanarySettings): LambdaCanaryPlan {
  return { percent: settings.percent, bakeMinutes: settings.bakeMinutes, thresholds: settings.thresholds };
}

export function canarySettingsOf(
  request: { percent: number; bakeMinutes: number },
  tuning: CanaryTuning,
): CanarySettings {
  return {
    percent: request.percent,
    bakeMinutes: request.bakeMinutes,
    thresholds: {
      maxErrorRatePoints: tuning.maxErrorRatePoints,
      maxTimeoutRatePoints: tuning.maxTimeoutRatePoints,
      maxP95IncreasePercent: tuning.maxP95IncreasePercent,
      minInvocations: tuning.minInvocations,
    },
    checkIntervalMs: Math.round(tuning.checkIntervalSeconds * 1000),
  };
}

export interface HealthTally {
  checks: number;
  unhealthy: number;
  consecutiveUnhealthy: number;
  last: HealthVerdict | null;
}

export interface Judgement {
  verdict: CanaryVerdict;
  reasons: string[];
}

const round = (n: number) => Math.round(n * 100) / 100;

/**
 * The verdict on the figures so far, in the server's own words (config key names, versions,
 * numbers). Before the end (`final` false) only a clear failure ends the bake: a threshold
 * broken once the canary served `minInvocations`, or the health targets unhealthy twice in a
 * row. At the end, too little traffic or a last unhealthy check also rolls back.
 */
export function judgeCanary(input: {
  canary: VersionFigures;
  stable: VersionFigures;
  thresholds: CanaryThresholds;
  health: HealthTally;
  final: boolean;
  /** Why the last log read failed (final only: a verdict needs the figures up to the end). */
  logError?: string | null | undefined;
}): Judgement {
  const { canary, stable, thresholds: t, health } = input;
  const failed: string[] = [];
  const compared: string[] = [];
  const c = `version ${canary.version}`;
  const s = `version ${stable.version}`;
  if (health.consecutiveUnhealthy >= UNHEALTHY_CHECKS_IN_A_ROW) {
    failed.push(`the health targets were unhealthy in ${health.consecutiveUnhealthy} checks in a row`);
  }
  const enough = canary.invocations >= t.minInvocations;
  if (enough) {
    const errorPoints = round(canary.errorRatePercent - stable.errorRatePercent);
    const errorText = `error rate ${canary.errorRatePercent}% on ${c} (${canary.errors} of ${canary.invocations}) vs ${stable.errorRatePercent}% on ${s}: ${signed(errorPoints)} points, allowed +${t.maxErrorRatePoints} (release.canary.maxErrorRatePoints)`;
    (errorPoints > t.maxErrorRatePoints ? failed : compared).push(errorText);
    const timeoutPoints = round(canary.timeoutRatePercent - stable.timeoutRatePercent);
    const timeoutText = `timeout rate ${canary.timeoutRatePercent}% on ${c} (${canary.timeouts}) vs ${stable.timeoutRatePercent}% on ${s}: ${signed(timeoutPoints)} points, allowed +${t.maxTimeoutRatePoints} (release.canary.maxTimeoutRatePoints)`;
    (timeoutPoints > t.maxTimeoutRatePoints ? failed : compared).push(timeoutText);
    if (canary.p95Ms !== null && stable.p95Ms !== null && stable.p95Ms > 0) {
      const increase = round(((canary.p95Ms - stable.p95Ms) / stable.p95Ms) * 100);
      const p95Text = `p95 ${canary.p95Ms} ms on ${c} vs ${stable.p95Ms} ms on ${s}: ${signed(increase)}%, allowed +${t.maxP95IncreasePercent}% (release.canary.maxP95IncreasePercent)`;
      (increase > t.maxP95IncreasePercent ? failed : compared).push(p95Text);
    } else if (input.final) {
      compared.push(
        `p95 not compared: ${canary.p95Ms === null ? `${c} finished no invocation` : `${s} finished no invocation`} in the window`,
      );
    }
  }
  if (failed.length) return { verdict: "failed", reasons: failed };
  if (!input.final) return { verdict: "baking", reasons: compared };
  if (input.logError) {
    return {
      verdict: "failed",
      reasons: [
        `the logs could not be read at the end of the bake, so the canary cannot be judged (see logError)`,
      ],
    };
  }
  if (health.last === "unhealthy") {
    return {
      verdict: "failed",
      reasons: ["the health targets were unhealthy at the last check of the bake"],
    };
  }
  if (!enough) {
    return {
      verdict: "insufficient_traffic",
      reasons: [
        `${c} finished ${canary.invocations} invocation(s) in the bake, fewer than release.canary.minInvocations (${t.minInvocations}): too little to judge, so it is not promoted. Bake longer, give it a larger share, or lower minInvocations (0 judges on what there is).`,
      ],
    };
  }
  return { verdict: "passed", reasons: compared };
}

function signed(n: number): string {
  return n >= 0 ? `+${n}` : `${n}`;
}

export interface BakeInput {
  deps: Pick<LambdaDeps, "lambda" | "logs" | "env">;
  functionName: string;
  canaryVersion: string;
  stableVersion: string;
  settings: CanarySettings;
  /** When the weights were set (epoch ms): the window starts there. */
  routedAtMs: number;
  io: StepIo;
  /** Gets each evidence as it is recorded (the step's state keeps the last one). */
  onEvidence?: (evidence: CanaryEvidence) => void;
  /** Epoch ms; tests may pass their own. */
  clock?: () => number;
}

/**
 * Bakes until the planned time has passed or the canary clearly failed. Resolves with the
 * evidence of a passed canary; throws (after recording the evidence) when it failed, had too
 * little traffic, or the call was cancelled — the release then removes its share.
 */
export async function bakeCanary(input: BakeInput): Promise<CanaryEvidence> {
  const { io, settings } = input;
  const clock = input.clock ?? Date.now;
  if (!input.deps.logs) {
    throw new DeployError(
      "PRECONDITION",
      "A canary needs the function's logs, and no logs client is available.",
    );
  }
  const logs = await input.deps.logs();
  const logGroup = await resolveLogGroup(input.deps.env, input.deps.lambda);
  const reader = new CanaryLogReader({
    logs,
    logGroup,
    canaryVersion: input.canaryVersion,
    stableVersion: input.stableVersion,
    startMs: input.routedAtMs,
  });
  const bakeMs = Math.round(settings.bakeMinutes * 60_000);
  const endsAt = input.routedAtMs + bakeMs;
  const health: HealthTally = { checks: 0, unhealthy: 0, consecutiveUnhealthy: 0, last: null };
  let evidence = evidenceOf(input, logGroup, reader.figures(), health, 0, clock(), {
    verdict: "baking",
    reasons: [],
  });
  let recordWarned = false;
  try {
    for (let checks = 1; ; checks++) {
      const wait = Math.min(settings.checkIntervalMs, Math.max(0, endsAt - clock()));
      if (wait > 0) await pause(wait, io.signal);
      const nowMs = clock();
      const final = nowMs >= endsAt;
      const [logError, verdict] = await Promise.all([
        reader.read(nowMs, io.signal).then(
          () => null,
          (error: unknown) => {
            if (io.signal.aborted) throw new CancelledError();
            return logErrorOf(error);
          },
        ),
        checkHealth({
          targets: input.deps.env.health,
          attempts: 1,
          signal: io.signal,
          lambda: {
            client: input.deps.lambda,
            functionName: input.functionName,
            qualifier: input.canaryVersion,
          },
        }).then((report) => report.verdict),
      ]);
      health.checks++;
      health.last = verdict;
      if (verdict === "unhealthy") {
        health.unhealthy++;
        health.consecutiveUnhealthy++;
      } else {
        health.consecutiveUnhealthy = 0;
      }
      const figures = reader.figures();
      const judged = judgeCanary({
        canary: figures.canary,
        stable: figures.stable,
        thresholds: settings.thresholds,
        health,
        final,
        logError: logError?.fatal ? logError.message : null,
      });
      evidence = evidenceOf(input, logGroup, figures, health, checks, nowMs, judged, logError?.message);
      input.onEvidence?.(evidence);
      try {
        await io.checkpoint({ evidence });
      } catch (error) {
        // The figures still go out with the next journal write; the bake goes on.
        if (!recordWarned)
          io.warn(`The canary's figures could not be recorded mid-bake: ${describeError(error)}`);
        recordWarned = true;
      }
      io.progress(progressLine(evidence));
      if (judged.verdict === "failed" || judged.verdict === "insufficient_traffic") {
        throw new DeployError(
          "TOOL_FAILED",
          `canary ${judged.verdict === "failed" ? "failed" : "had too little traffic"}: ${judged.reasons.join("; ")}`,
        );
      }
      if (final) return evidence;
    }
  } catch (error) {
    if (io.signal.aborted || error instanceof CancelledError) {
      evidence = {
        ...evidence,
        verdict: "cancelled",
        reasons: ["the call was cancelled mid-bake; the canary's share is removed"],
      };
      input.onEvidence?.(evidence);
      // Written with the journal's next phase (undoing).
      io.note({ evidence });
    }
    throw error;
  }
}

function evidenceOf(
  input: BakeInput,
  logGroup: string,
  { canary, stable }: { canary: VersionFigures; stable: VersionFigures },
  health: HealthTally,
  checks: number,
  nowMs: number,
  judged: Judgement,
  logError?: string,
): CanaryEvidence {
  return {
    kind: "lambda-canary",
    canaryVersion: input.canaryVersion,
    stableVersion: input.stableVersion,
    percent: input.settings.percent,
    bakeSeconds: round(input.settings.bakeMinutes * 60),
    startedAt: new Date(input.routedAtMs).toISOString(),
    updatedAt: new Date(nowMs).toISOString(),
    elapsedSeconds: Math.max(0, round((nowMs - input.routedAtMs) / 1000)),
    checks,
    logGroup,
    canary,
    stable,
    health: { ...health },
    thresholds: input.settings.thresholds,
    verdict: judged.verdict,
    reasons: judged.reasons.slice(0, 10),
    ...(logError ? { logError: logError.slice(0, 600) } : {}),
  };
}

/** A log group that does not exist yet holds no invocation: zero figures, not a failure. */
function logErrorOf(error: unknown): { message: string; fatal: boolean } {
  if (error instanceof DeployError && error.code === "AWS_NOT_FOUND") {
    return { message: "the log group does not exist (yet): no invocation logged", fatal: false };
  }
  return { message: describeError(error), fatal: true };
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    throw new CancelledError("Cancelled mid-bake; the canary's share of the alias is removed.");
  }
}

function figuresText(f: VersionFigures): string {
  return `${f.invocations} invocation(s), ${f.errors} error(s) (${f.errorRatePercent}%), ${f.timeouts} timeout(s), p95 ${f.p95Ms === null ? "-" : `${f.p95Ms} ms`}`;
}

/** One progress line per check, in the server's own words (numbers and versions only). */
export function progressLine(e: CanaryEvidence): string {
  const verdict = e.verdict === "baking" ? "" : `; verdict ${e.verdict}`;
  return `Canary check ${e.checks}: ${Math.round(e.elapsedSeconds)}/${Math.round(e.bakeSeconds)} s; version ${e.canaryVersion} (${e.percent}%): ${figuresText(e.canary)}; stable version ${e.stableVersion}: ${figuresText(e.stable)}; health ${e.health.last ?? "not checked"}${verdict}`;
}

/** One sentence on a canary's figures for a summary (numbers and versions only). */
export function canaryFiguresText(e: CanaryEvidence): string {
  return `after ${Math.round(e.elapsedSeconds)} s of ${Math.round(e.bakeSeconds)} s at ${e.percent}%, version ${e.canaryVersion}: ${figuresText(e.canary)}; stable version ${e.stableVersion}: ${figuresText(e.stable)}`;
}
