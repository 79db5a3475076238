import { DeployError } from "../core/errors.js";
import { quote } from "../core/quote.js";

/** AWS error codes look like this; anything else is not quoted as a name. */
const ERROR_NAME = /^[A-Za-z][A-Za-z0-9.]{0,63}$/;
/** The service's own message is outside text: kept, redacted and bounded, in its own field. */
const AWS_MESSAGE_CHARS = 300;

/**
 * Turns an AWS SDK error into a DeployError whose message says what to do. `action` names
 * the call ("lambda:UpdateFunctionCode") and `resource` what it was about, so "not found"
 * and "access denied" messages can name both.
 */
export function mapAwsError(error: unknown, action: string, resource?: string): DeployError {
  if (error instanceof DeployError) return error;
  const err = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  // Safety: the name and message come back from the service (or a proxy in front of it); the
  // message never enters ours, and the name only when it has an error code's shape.
  const name = typeof err?.name === "string" && ERROR_NAME.test(err.name) ? err.name : "Error";
  const status = err?.$metadata?.httpStatusCode;
  const what = resource ? ` on ${resource}` : "";
  const original = err?.message ?? String(error);
  if (
    /ExpiredToken|InvalidClientTokenId|UnrecognizedClientException|CredentialsProviderError|TokenRefreshRequired|SSO/i.test(
      name,
    ) ||
    /Could not load credentials|security token included in the request is (expired|invalid)/i.test(original)
  ) {
    return new DeployError(
      "AWS_CREDENTIALS",
      `AWS credentials are missing, invalid or expired (${action}). Refresh them (e.g. \`aws sso login\` or export new keys) and retry.`,
      { cause: error },
    );
  }
  if (/AccessDenied|UnauthorizedOperation|AuthorizationError|Forbidden/i.test(name) || status === 403) {
    return new DeployError(
      "AWS_ACCESS_DENIED",
      `Access denied: the caller may not perform ${action}${what}. Grant that action in the deploy role's IAM policy, or use a role that has it.`,
      { cause: error },
    );
  }
  if (/Throttl|TooManyRequests|RequestLimitExceeded|SlowDown/i.test(name) || status === 429) {
    return new DeployError(
      "AWS_THROTTLED",
      `AWS throttled ${action}${what} after retries. Wait a minute and retry; if it persists, check other jobs using the same account.`,
      { cause: error },
    );
  }
  if (/NotFound|NoSuch/i.test(name) || status === 404) {
    return new DeployError(
      "AWS_NOT_FOUND",
      `${resource ?? "The resource"} was not found (${action}: ${name}). Check the name in deploy.config.json and the region.`,
      { cause: error },
    );
  }
  return new DeployError(
    "AWS_ERROR",
    `${action}${what} failed: ${name} (the service's message is in awsMessage). Retry; if it persists, check the resource and the call in the AWS console.`,
    { cause: error, detail: { awsMessage: quote(original, AWS_MESSAGE_CHARS) } },
  );
}

export function isAwsErrorNamed(error: unknown, ...names: string[]): boolean {
  const name = (error as { name?: string })?.name;
  return typeof name === "string" && names.includes(name);
}
