import { retryWithin } from "../../core/budget.js";
import type { RecoveryIo, RecoveryResult } from "../../release/spec.js";
import type { ReleaseRecord } from "../../release/types.js";
import type { FrontendDeps } from "./deps.js";
import { readEntryPointState, restoreEntryPoints } from "./entry-points.js";
import { frontendRecoveryFactsSchema } from "./facts.js";
import { checkLiveIntegrity } from "./integrity.js";

/**
 * Settles a frontend release whose process died. The live entry points decide: all previous →
 * nothing changed; all new → the integrity check it never ran decides whether they stay; a
 * mix (the process died mid-switch) → the previous entry points come back, since a page from
 * one release with a service worker from another is no release at all.
 */
export async function recoverFrontendRelease(
  deps: Pick<FrontendDeps, "s3" | "env">,
  record: ReleaseRecord,
  io: RecoveryIo,
): Promise<RecoveryResult> {
  const parsed = frontendRecoveryFactsSchema.safeParse(record.recoveryFacts);
  if (!parsed.success) {
    return {
      outcome: "unresolved",
      note: "The record holds no recovery facts (written by an older version); check the site's index.html by hand.",
    };
  }
  const facts = parsed.data;
  if (facts.snapshot.length === 0) {
    // The snapshot is written before any entry point is: without one, nothing live changed.
    return {
      outcome: "nothing_changed",
      note: "The release stopped before writing any entry point; the previous release still serves.",
      after: { switched: false },
    };
  }
  const { state } = await readEntryPointState(deps.s3, facts.snapshot);
  if (state === "previous") {
    return {
      outcome: "nothing_changed",
      note: "Every entry point is still the previous release's; nothing was changed.",
      after: { switched: false },
    };
  }
  if (state === "other") {
    return {
      outcome: "unresolved",
      note: "Some entry points hold content from neither the previous nor this release (changed outside this tool); left as they are.",
    };
  }
  if (state === "next") {
    const integrity = await checkLiveIntegrity(deps.s3, facts.buckets, { url: null });
    if (integrity.ok) {
      return {
        outcome: "kept",
        note: `Every entry point was the new release's and all ${integrity.checked} referenced asset(s) are present, so it stays.`,
        after: { indexHtmlSha256: facts.newIndexSha256, switched: true },
      };
    }
  }
  io.progress("Putting the previous entry points back");
  const restored = await retryWithin(
    () => restoreEntryPoints(deps.s3, facts.artifactBucket, facts.snapshot, io.progress),
    { budgetMs: io.undoBudgetMs },
  );
  if (!restored.ok) throw restored.error ?? new Error("the previous entry points could not be put back");
  return {
    outcome: "restored",
    note:
      state === "mixed"
        ? "The process died mid-switch (entry points from two releases); the previous entry points are back."
        : "The new entry points were live but index.html references missing files; the previous entry points are back.",
    after: { switched: false },
  };
}
