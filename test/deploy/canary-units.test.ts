import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_FILE_NAME, loadConfig } from "../../src/config/load.js";
import { configSchema } from "../../src/config/schema.js";
import { judgeCanary, progressLine } from "../../src/deploy/lambda/canary.js";
import { recoveryPlanText } from "../../src/deploy/lambda/facts.js";
import { lambdaVersionOfStream, ratePercent } from "../../src/observe/canary-logs.js";
import type { CanaryEvidence, VersionFigures } from "../../src/observe/canary-schema.js";
import { canaryEvidenceSchema } from "../../src/observe/canary-schema.js";

const thresholds = {
  maxErrorRatePoints: 1,
  maxTimeoutRatePoints: 1,
  maxP95IncreasePercent: 50,
  minInvocations: 10,
};
const calm = { checks: 3, unhealthy: 0, consecutiveUnhealthy: 0, last: "healthy" as const };

function figures(version: string, over: Partial<VersionFigures> = {}): VersionFigures {
  return {
    version,
    invocations: 100,
    errors: 0,
    timeouts: 0,
    errorRatePercent: 0,
    timeoutRatePercent: 0,
    p50Ms: 60,
    p95Ms: 100,
    scanned: 300,
    truncated: false,
    errorGroups: [],
    ...over,
  };
}

describe("judgeCanary", () => {
  it("passes at the end of the bake when every figure is within its threshold, and says what it compared", () => {
    const judged = judgeCanary({
      canary: figures("8", { invocations: 20, errors: 0, p95Ms: 140 }),
      stable: figures("7", { errors: 1, errorRatePercent: 1 }),
      thresholds,
      health: calm,
      final: true,
    });
    expect(judged.verdict).toBe("passed");
    expect(judged.reasons.join(" | ")).toContain(
      "p95 140 ms on version 8 vs 100 ms on version 7: +40%, allowed +50%",
    );
  });

  it("keeps baking before the end unless something clearly failed", () => {
    const early = {
      canary: figures("8", { invocations: 3, errors: 3, errorRatePercent: 100 }),
      stable: figures("7"),
    };
    expect(judgeCanary({ ...early, thresholds, health: calm, final: false }).verdict).toBe("baking");
    // At the end, three invocations are too few to judge: not promoted.
    const end = judgeCanary({ ...early, thresholds, health: calm, final: true });
    expect(end.verdict).toBe("insufficient_traffic");
    expect(end.reasons[0]).toContain("fewer than release.canary.minInvocations (10)");
  });

  it("fails on the error rate, the timeout rate and the p95, naming the config key", () => {
    const stable = figures("7", { errors: 1, errorRatePercent: 1, timeouts: 0 });
    const errors = judgeCanary({
      canary: figures("8", { invocations: 50, errors: 2, errorRatePercent: 4 }),
      stable,
      thresholds,
      health: calm,
      final: false,
    });
    expect(errors.verdict).toBe("failed");
    expect(errors.reasons).toEqual([
      "error rate 4% on version 8 (2 of 50) vs 1% on version 7: +3 points, allowed +1 (release.canary.maxErrorRatePoints)",
    ]);
    const timeouts = judgeCanary({
      canary: figures("8", { timeouts: 5, timeoutRatePercent: 5 }),
      stable,
      thresholds,
      health: calm,
      final: true,
    });
    expect(timeouts.reasons[0]).toContain("release.canary.maxTimeoutRatePoints");
    const slow = judgeCanary({
      canary: figures("8", { p95Ms: 151 }),
      stable,
      thresholds,
      health: calm,
      final: true,
    });
    expect(slow.verdict).toBe("failed");
    expect(slow.reasons[0]).toContain("+51%, allowed +50% (release.canary.maxP95IncreasePercent)");
  });

  it("does not compare p95 with a stable version that served nothing, and says so", () => {
    const judged = judgeCanary({
      canary: figures("8"),
      stable: figures("7", { invocations: 0, p95Ms: null, p50Ms: null }),
      thresholds,
      health: calm,
      final: true,
    });
    expect(judged.verdict).toBe("passed");
    expect(judged.reasons).toContain("p95 not compared: version 7 finished no invocation in the window");
  });

  it("fails on two unhealthy checks in a row, or an unhealthy last check; one blip mid-bake is tolerated", () => {
    const base = { canary: figures("8"), stable: figures("7"), thresholds };
    const blip = { checks: 4, unhealthy: 1, consecutiveUnhealthy: 1, last: "unhealthy" as const };
    expect(judgeCanary({ ...base, health: blip, final: false }).verdict).toBe("baking");
    expect(judgeCanary({ ...base, health: blip, final: true }).verdict).toBe("failed");
    const twice = { ...blip, unhealthy: 2, consecutiveUnhealthy: 2 };
    expect(judgeCanary({ ...base, health: twice, final: false }).reasons).toEqual([
      "the health targets were unhealthy in 2 checks in a row",
    ]);
  });

  it("fails when the logs could not be read at the end, and judges on health alone with minInvocations 0", () => {
    const base = { canary: figures("8"), stable: figures("7"), thresholds, health: calm, final: true };
    expect(judgeCanary({ ...base, logError: "AccessDenied" }).verdict).toBe("failed");
    const none = figures("8", { invocations: 0, p95Ms: null, p50Ms: null });
    const zero = { ...thresholds, minInvocations: 0 };
    expect(judgeCanary({ ...base, canary: none, thresholds: zero }).verdict).toBe("passed");
  });
});

describe("canary figures", () => {
  it("reads the version from a Lambda log stream's name", () => {
    expect(lambdaVersionOfStream("2026/11/25/[12]0a1b2c3d")).toBe("12");
    expect(lambdaVersionOfStream("2026/11/25/[$LATEST]0a1b2c3d")).toBe("$LATEST");
    expect(lambdaVersionOfStream("2026/11/25/[v12]0a1b")).toBeNull();
    expect(lambdaVersionOfStream("custom-stream")).toBeNull();
    expect(lambdaVersionOfStream(undefined)).toBeNull();
  });

  it("computes rates that never pass on missing REPORT lines", () => {
    expect(ratePercent(1, 3)).toBe(33.33);
    expect(ratePercent(5, 2)).toBe(100);
    expect(ratePercent(0, 0)).toBe(0);
    expect(ratePercent(2, 0)).toBe(100);
  });

  it("a progress line carries the figures of both versions", () => {
    const evidence: CanaryEvidence = {
      kind: "lambda-canary",
      canaryVersion: "8",
      stableVersion: "7",
      percent: 10,
      bakeSeconds: 300,
      startedAt: "2026-11-25T13:00:00.000Z",
      updatedAt: "2026-11-25T13:00:42.000Z",
      elapsedSeconds: 42,
      checks: 8,
      logGroup: "/aws/lambda/vyaparai-api-prod",
      canary: figures("8", { invocations: 12, errors: 3, errorRatePercent: 25, p95Ms: 80 }),
      stable: figures("7"),
      health: calm,
      thresholds,
      verdict: "baking",
      reasons: [],
    };
    expect(canaryEvidenceSchema.safeParse(evidence).success).toBe(true);
    expect(progressLine(evidence)).toBe(
      "Canary check 8: 42/300 s; version 8 (10%): 12 invocation(s), 3 error(s) (25%), 0 timeout(s), p95 80 ms; stable version 7: 100 invocation(s), 0 error(s) (0%), 0 timeout(s), p95 100 ms; health healthy",
    );
    // A record is outside text: a version that is not one is refused by the schema.
    expect(canaryEvidenceSchema.safeParse({ ...evidence, canaryVersion: "8; rm -rf /" }).success).toBe(false);
  });

  it("the recovery plan of a canary says its share is removed, never promoted", () => {
    const facts = {
      functionName: "fn",
      alias: "live",
      bucket: "b",
      previous: { version: "7", codeSha256: "old", artifactKey: null },
      next: { codeSha256: "new", artifactKey: "k", version: "8" },
      canary: { percent: 10, bakeMinutes: 5 },
    };
    expect(recoveryPlanText(facts, "baking")).toContain(
      "removes that share so version 7 serves everything again, whatever the figures recorded so far",
    );
  });
});

describe("release.canary config", () => {
  it("has defaults", () => {
    const config = configSchema.parse({ environments: {} });
    expect(config.release.canary).toEqual({
      maxErrorRatePoints: 1,
      maxTimeoutRatePoints: 1,
      maxP95IncreasePercent: 50,
      minInvocations: 20,
      checkIntervalSeconds: 5,
      maxWaitMinutes: 10,
    });
    // Setting another release key keeps the canary defaults.
    expect(
      configSchema.parse({ environments: {}, release: { lockTtlSeconds: 30 } }).release.canary.minInvocations,
    ).toBe(20);
  });

  it("refuses bad values with errors that name the key", () => {
    const appRoot = mkdtempSync(join(tmpdir(), "vyaparai-canary-config-"));
    writeFileSync(
      join(appRoot, CONFIG_FILE_NAME),
      JSON.stringify({
        release: {
          canary: {
            maxErrorRatePoints: -1,
            minInvocations: 2.5,
            checkIntervalSeconds: 0,
            maxP95IncreasePercnt: 10,
          },
        },
      }),
    );
    let message = "";
    try {
      loadConfig({ cwd: appRoot, env: {} });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("release.canary.maxErrorRatePoints: must be 0 or more (percentage points).");
    expect(message).toContain("release.canary.minInvocations: expected int");
    expect(message).toContain("release.canary.checkIntervalSeconds: must be at least 0.1 (seconds).");
    expect(message).toContain('release.canary: unknown key "maxP95IncreasePercnt"');
  });
});
