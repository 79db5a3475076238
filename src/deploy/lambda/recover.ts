import { retryWithin } from "../../core/budget.js";
import type { RecoveryIo, RecoveryResult } from "../../release/spec.js";
import type { ReleaseRecord } from "../../release/types.js";
import { readLiveCode, waitForUpdate } from "./code.js";
import type { LambdaDeps } from "./deps.js";
import { lambdaRecoveryFactsSchema } from "./facts.js";
import { failingChecks, runHealthGate } from "./release.js";
import { restorePreviousCode } from "./undo.js";

/**
 * Settles a Lambda release whose process died. What is live decides: the previous code →
 * nothing changed; the new code → the health gate it never ran decides whether it stays or
 * the previous code comes back; anything else was changed outside this release and is left
 * for a person.
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
  const live = await readLiveCode(deps.lambda, facts.functionName, facts.alias);
  const afterOf = (version: string, codeSha256: string) => ({ version, codeSha256 });
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
