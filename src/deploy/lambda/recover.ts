import { retryWithin } from "../../core/budget.js";
import type { RecoveryIo, RecoveryResult } from "../../release/spec.js";
import type { ReleaseRecord } from "../../release/types.js";
import { readLiveRouting, readVersionCodeSha256, waitForUpdate } from "./code.js";
import type { LambdaDeps } from "./deps.js";
import { type LambdaRecoveryFacts, lambdaRecoveryFactsSchema } from "./facts.js";
import { failingChecks, runHealthGate } from "./release.js";
import { restorePreviousCode } from "./undo.js";

/**
 * Settles a Lambda release whose process died. What is live decides: the previous code →
 * nothing changed; the new code → the health gate it never ran decides whether it stays or
 * the previous code comes back; anything else was changed outside this release and is left
 * for a person. An alias that still sends a share of its traffic to this release's code (a
 * canary cut short) gets that share removed: a bake that did not finish is never promoted,
 * whatever its figures so far said (they stay in the record's evidence).
 */
export async function recoverLambdaRelease(
  deps: LambdaDeps,
  record: ReleaseRecord,
  io: RecoveryIo,
): Promise<RecoveryResult> {
  const parsed = lambdaRecoveryFactsSchema.safeParse(record.recoveryFacts);
  if (!parsed.success) {
    return {
      outcome: "unresolved",
      note: "The record holds no recovery facts (written by an older version); check the function by hand.",
    };
  }
  const facts = parsed.data;
  // A kill during UpdateFunctionCode can leave the update running; judge the code it ends with.
  await waitForUpdate(deps.lambda, facts.functionName, 300, io.signal).catch(() => {});
  const live = await readLiveRouting(deps.lambda, facts.functionName, facts.alias);
  const afterOf = (version: string, codeSha256: string) => ({ version, codeSha256 });
  const weighted = Object.keys(live.weights);
  if (facts.alias && weighted.length > 0) {
    return settleSplitAlias(deps, facts, io, { ...live, weighted });
  }
  const isPrevious = facts.alias
    ? live.version === facts.previous.version
    : live.codeSha256 === facts.previous.codeSha256;
  if (isPrevious) {
    return {
      outcome: "nothing_changed",
      note: `${facts.functionName} still runs the previous code ${facts.previous.codeSha256}; nothing was changed.`,
      after: afterOf(facts.previous.version, facts.previous.codeSha256),
    };
  }
  if (live.codeSha256 !== facts.next.codeSha256) {
    return {
      outcome: "unresolved",
      note: `${facts.functionName} runs ${live.codeSha256}, neither the previous code nor this release's; left as it is.`,
      after: afterOf(live.version, live.codeSha256),
    };
  }
  const health = await runHealthGate(
    { ...deps, signal: io.signal, progress: io.progress },
    facts.functionName,
    facts.alias ?? "$LATEST",
  );
  if (health.verdict !== "unhealthy") {
    return {
      outcome: "kept",
      note: `The new code ${facts.next.codeSha256} was live; its health gate passed (${health.verdict}), so it stays.`,
      after: afterOf(live.version, live.codeSha256),
    };
  }
  const restored = await retryWithin(
    () => restorePreviousCode({ ...deps, progress: io.progress }, facts, io.signal),
    {
      budgetMs: io.undoBudgetMs,
    },
  );
  if (!restored.ok) throw restored.error ?? new Error("the previous code could not be put back");
  return {
    outcome: "restored",
    note: `The new code ${facts.next.codeSha256} was live and failed its health gate (${failingChecks(health)}); the previous code ${facts.previous.codeSha256} is back.`,
    after: afterOf(facts.previous.version, facts.previous.codeSha256),
  };
}

/** The alias splits its traffic: remove a share that goes to this release's code, else leave it. */
async function settleSplitAlias(
  deps: LambdaDeps,
  facts: LambdaRecoveryFacts,
  io: RecoveryIo,
  live: { version: string; codeSha256: string; weighted: string[]; weights: Record<string, number> },
): Promise<RecoveryResult> {
  const alias = facts.alias as string;
  const codes = await Promise.all(
    live.weighted.map((version) => readVersionCodeSha256(deps.lambda, facts.functionName, version)),
  );
  const ours = codes.every((code) => code === facts.next.codeSha256);
  const shares = live.weighted
    .map((version) => `version ${version} ${Math.round((live.weights[version] ?? 0) * 1000) / 10}%`)
    .join(", ");
  if (!ours || live.version !== facts.previous.version) {
    return {
      outcome: "unresolved",
      note: `Alias ${alias} of ${facts.functionName} is on version ${live.version} and sends ${shares} of its traffic elsewhere: not the split this release made (previous version ${facts.previous.version}, new code ${facts.next.codeSha256}); left as it is.`,
      after: { version: live.version, codeSha256: live.codeSha256 },
    };
  }
  io.progress(`Removing the canary's share of alias ${alias} (${shares})`);
  const restored = await retryWithin(
    () => restorePreviousCode({ ...deps, progress: io.progress }, facts, io.signal),
    { budgetMs: io.undoBudgetMs },
  );
  if (!restored.ok) throw restored.error ?? new Error("the canary's share could not be removed");
  return {
    outcome: "restored",
    note: `The release died while its canary baked: alias ${alias} still sent ${shares} to the new code ${facts.next.codeSha256}. That share was removed, so version ${facts.previous.version} serves everything again; a bake cut short is never promoted (its figures so far are in the record's evidence).`,
    after: { version: facts.previous.version, codeSha256: facts.previous.codeSha256 },
  };
}
