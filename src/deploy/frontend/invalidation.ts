import {
  type CloudFrontClient,
  CreateInvalidationCommand,
  GetInvalidationCommand,
} from "@aws-sdk/client-cloudfront";
import { mapAwsError } from "../../aws/errors.js";
import { CancelledError, DeployError } from "../../core/errors.js";
import { sleep } from "../../core/sleep.js";
import { isImmutable } from "./headers.js";

export interface InvalidationResult {
  id: string;
  paths: string[];
  status: string;
}

/**
 * Paths to invalidate: changed files that caches may hold (immutable hashed assets are never
 * cached under a name whose content changed), `/` too when index.html changed (CloudFront
 * caches the default root object under `/`), and `/*` once there are more than `threshold`.
 */
export function invalidationPaths(
  changed: Array<{ key: string; cacheControl: string }>,
  threshold: number,
): string[] {
  const paths = new Set<string>();
  for (const file of changed) {
    if (isImmutable(file.cacheControl)) continue;
    paths.add(`/${encodeURI(file.key)}`);
    if (file.key === "index.html") paths.add("/");
  }
  if (paths.size > threshold) return ["/*"];
  return [...paths].sort();
}

/** CallerReference is the release id, so retrying the same release never invalidates twice. */
export async function createInvalidation(
  cloudFront: CloudFrontClient,
  distributionId: string,
  paths: string[],
  callerReference: string,
): Promise<InvalidationResult> {
  try {
    const out = await cloudFront.send(
      new CreateInvalidationCommand({
        DistributionId: distributionId,
        InvalidationBatch: {
          CallerReference: callerReference,
          Paths: { Quantity: paths.length, Items: paths },
        },
      }),
    );
    return { id: out.Invalidation?.Id ?? "", paths, status: out.Invalidation?.Status ?? "InProgress" };
  } catch (error) {
    throw mapAwsError(error, "cloudfront:CreateInvalidation", `distribution ${distributionId}`);
  }
}

export interface WaitOptions {
  signal: AbortSignal;
  timeoutMs?: number;
  pollMs?: number;
  onPoll?: (status: string) => void;
}

/**
 * Polls GetInvalidation until it completes. The status is compared case-insensitively:
 * CloudFront says `Completed`, moto says `COMPLETED` (the SDK's waiter only knows the former).
 */
export async function waitForInvalidation(
  cloudFront: CloudFrontClient,
  distributionId: string,
  invalidationId: string,
  options: WaitOptions,
): Promise<string> {
  const deadline = Date.now() + (options.timeoutMs ?? 15 * 60_000);
  const pollMs = options.pollMs ?? 5_000;
  for (;;) {
    if (options.signal.aborted)
      throw new CancelledError("Stopped waiting for the invalidation; it continues in CloudFront.");
    let status: string;
    try {
      const out = await cloudFront.send(
        new GetInvalidationCommand({ DistributionId: distributionId, Id: invalidationId }),
        { abortSignal: options.signal },
      );
      status = out.Invalidation?.Status ?? "";
    } catch (error) {
      throw mapAwsError(error, "cloudfront:GetInvalidation", `invalidation ${invalidationId}`);
    }
    options.onPoll?.(status);
    if (status.toLowerCase() === "completed") return status;
    if (Date.now() > deadline)
      throw new DeployError(
        "TOOL_FAILED",
        `Invalidation ${invalidationId} is still ${status} after waiting; the deploy is live, caches clear when it completes. Check it with: aws cloudfront get-invalidation --distribution-id ${distributionId} --id ${invalidationId}`,
      );
    await sleep(pollMs, options.signal);
  }
}
