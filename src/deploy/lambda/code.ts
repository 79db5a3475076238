import {
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  type LambdaClient,
  PublishVersionCommand,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
  waitUntilFunctionUpdatedV2,
} from "@aws-sdk/client-lambda";
import pRetry from "p-retry";
import { isAwsErrorNamed, mapAwsError } from "../../aws/errors.js";
import { CancelledError, DeployError } from "../../core/errors.js";
import { quote } from "../../core/quote.js";

/**
 * The Lambda calls a release and a rollback share: read what is live, point the function's
 * code at an S3 artifact and prove it took, publish, move the alias.
 */

export interface LiveLambdaCode {
  functionName: string;
  alias: string | null;
  /** The version the alias points at, or "$LATEST" without an alias. */
  version: string;
  codeSha256: string;
}

/** What serves, with the alias's weighted routing: versions that get a share besides `version`. */
export interface LiveLambdaRouting extends LiveLambdaCode {
  /** AdditionalVersionWeights of the alias (version → share 0..1); empty without an alias. */
  weights: Record<string, number>;
}

/** What serves traffic now: the alias's version when one is configured, else $LATEST. */
export async function readLiveCode(
  lambda: LambdaClient,
  functionName: string,
  alias: string | null,
): Promise<LiveLambdaCode> {
  const { weights: _weights, ...live } = await readLiveRouting(lambda, functionName, alias);
  return live;
}

/** readLiveCode plus the alias's weighted routing (one GetAlias, as readLiveCode). */
export async function readLiveRouting(
  lambda: LambdaClient,
  functionName: string,
  alias: string | null,
): Promise<LiveLambdaRouting> {
  let version = "$LATEST";
  let weights: Record<string, number> = {};
  if (alias) {
    try {
      const out = await lambda.send(new GetAliasCommand({ FunctionName: functionName, Name: alias }));
      version = out.FunctionVersion ?? "$LATEST";
      weights = { ...(out.RoutingConfig?.AdditionalVersionWeights ?? {}) };
    } catch (error) {
      if (isAwsErrorNamed(error, "ResourceNotFoundException")) {
        // Safety: creating the alias here would switch traffic with no version to go back to.
        throw new DeployError(
          "PRECONDITION",
          `Alias "${alias}" of ${functionName} does not exist. Create it on the version that serves today (aws lambda create-alias --function-name ${functionName} --name ${alias} --function-version <N>), or set lambda.alias to null in deploy.config.json.`,
          { cause: error },
        );
      }
      throw mapAwsError(error, "lambda:GetAlias", `${functionName}:${alias}`);
    }
  }
  try {
    const out = await lambda.send(
      new GetFunctionCommand({ FunctionName: functionName, ...(alias ? { Qualifier: version } : {}) }),
    );
    return { functionName, alias, version, codeSha256: out.Configuration?.CodeSha256 ?? "", weights };
  } catch (error) {
    throw mapAwsError(error, "lambda:GetFunction", functionName);
  }
}

/** CodeSha256 of a published version (or $LATEST). */
export async function readVersionCodeSha256(
  lambda: LambdaClient,
  functionName: string,
  version: string,
): Promise<string> {
  try {
    const out = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName, Qualifier: version }),
    );
    return out.CodeSha256 ?? "";
  } catch (error) {
    if (isAwsErrorNamed(error, "ResourceNotFoundException")) {
      throw new DeployError(
        "AWS_NOT_FOUND",
        `Version ${version} of ${functionName} does not exist. Use deploy_status to list releases and their versions.`,
        { cause: error },
      );
    }
    throw mapAwsError(error, "lambda:GetFunctionConfiguration", `${functionName}:${version}`);
  }
}

export interface CodeUpdateOptions {
  lambda: LambdaClient;
  functionName: string;
  bucket: string;
  key: string;
  /** The CodeSha256 (base64) the function must report afterwards. */
  expectedCodeSha256: string;
  signal?: AbortSignal | undefined;
  /** Seconds to wait for LastUpdateStatus Successful. */
  maxWaitSeconds?: number;
  /** Backoff base for ResourceConflictException retries (tests lower it). */
  conflictRetryMinMs?: number;
  onProgress?: ((message: string) => void) | undefined;
}

/**
 * UpdateFunctionCode from S3, then wait for the update to finish and check the live hash.
 * A function mid-update answers ResourceConflictException; that is retried with backoff.
 * The hash check is not optional: moto (and a racing deploy) can leave other code live,
 * e.g. an update from a missing key silently sets CodeSha256 "" in moto.
 */
export async function updateCodeFromS3(options: CodeUpdateOptions): Promise<void> {
  const { lambda, functionName, bucket, key, signal } = options;
  const updated = await pRetry(
    async () => {
      if (signal?.aborted) throw new CancelledError();
      return lambda.send(
        new UpdateFunctionCodeCommand({ FunctionName: functionName, S3Bucket: bucket, S3Key: key }),
        signal ? { abortSignal: signal } : {},
      );
    },
    {
      retries: 6,
      minTimeout: options.conflictRetryMinMs ?? 1000,
      factor: 2,
      maxTimeout: 15_000,
      shouldRetry: ({ error }) => isAwsErrorNamed(error, "ResourceConflictException"),
      onFailedAttempt: ({ error, attemptNumber }) => {
        if (isAwsErrorNamed(error, "ResourceConflictException"))
          options.onProgress?.(
            `${functionName} is busy with another update; retrying (attempt ${attemptNumber})`,
          );
      },
    },
  ).catch((error: unknown) => {
    if (error instanceof DeployError) throw error;
    if (isAwsErrorNamed(error, "ResourceConflictException")) {
      throw new DeployError(
        "AWS_ERROR",
        `${functionName} stayed busy with another update (ResourceConflictException) through every retry. Wait for that update to finish (aws lambda get-function-configuration --function-name ${functionName}) and retry.`,
        { cause: error },
      );
    }
    throw mapAwsError(error, "lambda:UpdateFunctionCode", functionName);
  });
  // An update the answer itself reports as finished (LastUpdateStatus Successful, with its
  // CodeSha256) needs no poll; Lambda usually answers InProgress, and then the waiter decides.
  const finished =
    updated.LastUpdateStatus === "Successful" && updated.CodeSha256 ? updated.CodeSha256 : null;
  if (!finished) options.onProgress?.(`Waiting for ${functionName} to finish updating`);
  const settled =
    finished ?? (await waitForUpdate(lambda, functionName, options.maxWaitSeconds ?? 300, signal));
  // The waiter's last GetFunction already shows the settled code: no second read for it.
  const live = settled ?? (await readVersionCodeSha256(lambda, functionName, "$LATEST"));
  if (live !== options.expectedCodeSha256) {
    throw new DeployError(
      "AWS_ERROR",
      `After updating ${functionName} from s3://${bucket}/${key}, its CodeSha256 is "${live}", not the artifact's "${options.expectedCodeSha256}". The artifact may be missing or another deploy ran at the same time.`,
      { detail: { expectedCodeSha256: options.expectedCodeSha256, liveCodeSha256: live } },
    );
  }
}

/** Waits for LastUpdateStatus Successful; returns the CodeSha256 of $LATEST the last poll saw. */
export async function waitForUpdate(
  lambda: LambdaClient,
  functionName: string,
  maxWaitSeconds: number,
  signal: AbortSignal | undefined,
): Promise<string | null> {
  try {
    const result = await waitUntilFunctionUpdatedV2(
      {
        client: lambda,
        maxWaitTime: maxWaitSeconds,
        minDelay: 1,
        maxDelay: 5,
        ...(signal ? { abortSignal: signal } : {}),
      },
      { FunctionName: functionName },
    );
    // The CodeSha256 of $LATEST as the successful poll read it (null when the answer lacks it).
    const reason = result.reason as { Configuration?: { CodeSha256?: string } } | undefined;
    return reason?.Configuration?.CodeSha256 || null;
  } catch (error) {
    if (signal?.aborted) throw new CancelledError("Cancelled while Lambda was applying the code update.");
    const reason = (error as { reason?: { LastUpdateStatusReason?: string } })?.reason
      ?.LastUpdateStatusReason;
    throw new DeployError(
      "AWS_ERROR",
      `${functionName} did not reach LastUpdateStatus Successful within ${maxWaitSeconds} s${reason ? " (Lambda's reason is in awsMessage)" : ""}. Check the function in the console or with aws lambda get-function-configuration.`,
      { cause: error, ...(reason ? { detail: { awsMessage: quote(reason, 300) } } : {}) },
    );
  }
}

export async function publishVersion(
  lambda: LambdaClient,
  functionName: string,
  codeSha256: string,
  description: string,
  signal?: AbortSignal,
): Promise<string> {
  try {
    const out = await lambda.send(
      new PublishVersionCommand({
        FunctionName: functionName,
        // Safety: AWS refuses to publish if $LATEST changed under us (moto ignores it; we verified before).
        CodeSha256: codeSha256,
        Description: description.slice(0, 256),
      }),
      signal ? { abortSignal: signal } : {},
    );
    if (!out.Version)
      throw new DeployError("AWS_ERROR", `PublishVersion on ${functionName} returned no version.`);
    return out.Version;
  } catch (error) {
    throw mapAwsError(error, "lambda:PublishVersion", functionName);
  }
}

/**
 * Points the alias at `version` alone. Safety: the weighted routing is cleared in the same
 * call (UpdateAlias without RoutingConfig would keep it), so a move, an undo or a rollback
 * never leaves a share of the traffic on another version, e.g. a canary's.
 */
export function moveAlias(
  lambda: LambdaClient,
  functionName: string,
  alias: string,
  version: string,
  signal?: AbortSignal,
): Promise<void> {
  return routeAlias(lambda, functionName, alias, version, {}, signal);
}

/**
 * A canary: the alias stays on `stableVersion` and sends `share` (0..1) of its traffic to
 * `canaryVersion` (RoutingConfig.AdditionalVersionWeights).
 */
export function splitAlias(
  lambda: LambdaClient,
  functionName: string,
  alias: string,
  stableVersion: string,
  canaryVersion: string,
  share: number,
  signal?: AbortSignal,
): Promise<void> {
  return routeAlias(lambda, functionName, alias, stableVersion, { [canaryVersion]: share }, signal);
}

async function routeAlias(
  lambda: LambdaClient,
  functionName: string,
  alias: string,
  version: string,
  weights: Record<string, number>,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await lambda.send(
      new UpdateAliasCommand({
        FunctionName: functionName,
        Name: alias,
        FunctionVersion: version,
        RoutingConfig: { AdditionalVersionWeights: weights },
      }),
      signal ? { abortSignal: signal } : {},
    );
  } catch (error) {
    throw mapAwsError(error, "lambda:UpdateAlias", `${functionName}:${alias}`);
  }
}
