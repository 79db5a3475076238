import { isAwsErrorNamed } from "../aws/errors.js";

/** S3 answers a lost If-None-Match race with 412, or 409 when two writes overlap. */
export function isConditionalWriteConflict(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return (
    isAwsErrorNamed(error, "PreconditionFailed", "ConditionalRequestConflict") ||
    status === 412 ||
    status === 409
  );
}
