import * as z from "zod";

/**
 * What a Lambda release (deploy or rollback) writes into its record before it changes
 * anything, so that a later call can settle it if its process dies: where the function was,
 * and where it was going.
 */
export const lambdaRecoveryFactsSchema = z.object({
  functionName: z.string(),
  alias: z.string().nullable(),
  bucket: z.string(),
  previous: z.object({
    version: z.string(),
    codeSha256: z.string(),
    /** Content-addressed zip of the previous code ($LATEST mode restores from it). */
    artifactKey: z.string().nullable(),
  }),
  next: z.object({
    codeSha256: z.string(),
    artifactKey: z.string().nullable(),
    /** The version to point the alias at, when it already exists (rollback), or once published (canary). */
    version: z.string().nullable(),
  }),
  /**
   * Set for a canary: the alias stays on the previous version and sends `percent` of its
   * traffic to the new one while it bakes. A recovery removes that share; it never promotes.
   */
  canary: z.object({ percent: z.number(), bakeMinutes: z.number() }).optional(),
});
export type LambdaRecoveryFacts = z.infer<typeof lambdaRecoveryFactsSchema>;

export function recoveryPlanText(facts: LambdaRecoveryFacts, phase: string): string {
  const where = facts.alias ? `${facts.functionName}:${facts.alias}` : `${facts.functionName} ($LATEST)`;
  if (phase === "locked" || phase === "preparing" || phase === "uploading") {
    return `Nothing live was changed yet: the next guarded call checks that ${where} still runs ${facts.previous.codeSha256} and closes this release.`;
  }
  const gate = `if it is the new code ${facts.next.codeSha256}, it runs the health gate and keeps it when it passes, else puts back ${facts.alias ? `version ${facts.previous.version}` : `the previous code ${facts.previous.codeSha256}`}.`;
  if (facts.canary && facts.alias) {
    return `The next guarded call reads alias ${where}: while it still sends a share of its traffic to the canary (new code ${facts.next.codeSha256}), it removes that share so version ${facts.previous.version} serves everything again, whatever the figures recorded so far (a cut-short bake never promotes); if the alias serves the new code alone, ${gate}`;
  }
  return `The next guarded call reads what ${where} runs: ${gate}`;
}
