import * as z from "zod";
import { entryPointSnapshotSchema } from "./entry-points.js";

/**
 * What a frontend release writes into its record before it changes anything live, so a later
 * call can settle it if its process dies: the entry points it replaces and where their
 * previous bytes are kept.
 */
export const frontendRecoveryFactsSchema = z.object({
  artifactBucket: z.string(),
  buckets: z.array(z.string()),
  newIndexSha256: z.string().nullable(),
  snapshot: z.array(entryPointSnapshotSchema),
});
export type FrontendRecoveryFacts = z.infer<typeof frontendRecoveryFactsSchema>;

export function recoveryPlanText(phase: string): string {
  if (phase === "locked" || phase === "preparing" || phase === "uploading") {
    return "No entry point was written yet: the next guarded call checks that the previous index.html still serves and closes this release (uploaded assets stay as stale files).";
  }
  return "The next guarded call reads the live entry points: all new → it runs the integrity check and keeps them when it passes; a mix, or a failed check → it puts the previous entry points back from the content store.";
}
