import { DeployError } from "../../core/errors.js";
import { moveAlias, readLiveRouting, updateCodeFromS3 } from "./code.js";
import type { LambdaDeps } from "./deps.js";
import type { LambdaRecoveryFacts } from "./facts.js";

/**
 * Puts the previous code back: the alias to its old version alone (a canary's weighted share
 * removed in the same call), or (no alias) the previous artifact into $LATEST with the same
 * hash check as a deploy. Reads what is live first, so it is safe to repeat and says when the
 * previous code never stopped serving.
 */
export async function restorePreviousCode(
  deps: Pick<LambdaDeps, "lambda" | "progress" | "conflictRetryMinMs">,
  facts: LambdaRecoveryFacts,
  signal: AbortSignal,
): Promise<"undone" | "nothing_to_undo"> {
  const live = await readLiveRouting(deps.lambda, facts.functionName, facts.alias);
  if (facts.alias) {
    const split = Object.keys(live.weights).length > 0;
    if (live.version === facts.previous.version && !split) return "nothing_to_undo";
    deps.progress(
      live.version === facts.previous.version
        ? `Removing the weighted routing of alias ${facts.alias}: version ${facts.previous.version} serves everything again`
        : `Moving alias ${facts.alias} back to version ${facts.previous.version}`,
    );
    await moveAlias(deps.lambda, facts.functionName, facts.alias, facts.previous.version, signal);
    return "undone";
  }
  if (live.codeSha256 === facts.previous.codeSha256) return "nothing_to_undo";
  if (!facts.previous.artifactKey) {
    throw new DeployError(
      "PRECONDITION",
      `No artifact of the previous code ${facts.previous.codeSha256} is recorded, so it cannot be put back automatically.`,
    );
  }
  deps.progress(`Putting the previous code ${facts.previous.codeSha256} back into ${facts.functionName}`);
  await updateCodeFromS3({
    lambda: deps.lambda,
    functionName: facts.functionName,
    bucket: facts.bucket,
    key: facts.previous.artifactKey,
    expectedCodeSha256: facts.previous.codeSha256,
    signal,
    onProgress: deps.progress,
    ...(deps.conflictRetryMinMs !== undefined ? { conflictRetryMinMs: deps.conflictRetryMinMs } : {}),
  });
  return "undone";
}

/** The one command that puts the previous code back by hand. */
export function restoreCommand(facts: LambdaRecoveryFacts, region: string): string {
  if (facts.alias) {
    return `aws lambda update-alias --region ${region} --function-name ${facts.functionName} --name ${facts.alias} --function-version ${facts.previous.version} --routing-config AdditionalVersionWeights={}`;
  }
  return `aws lambda update-function-code --region ${region} --function-name ${facts.functionName} --s3-bucket ${facts.bucket} --s3-key ${facts.previous.artifactKey ?? "<previous artifact>"}`;
}
