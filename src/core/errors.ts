import { quote } from "./quote.js";

/**
 * The few error classes the product uses. Each carries a stable `code`, a message a person
 * can act on (what happened and what to do) and the original error in `cause`.
 * The registration wrapper turns any of them into an `isError` tool result.
 */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "INPUT_INVALID"
  | "UNKNOWN_ENV"
  | "AWS_CREDENTIALS"
  | "AWS_ACCESS_DENIED"
  | "AWS_THROTTLED"
  | "AWS_NOT_FOUND"
  | "AWS_ERROR"
  | "REFUSED"
  | "LOCK_HELD"
  | "PRECONDITION"
  | "CANCELLED"
  | "TOOL_FAILED";

export class DeployError extends Error {
  readonly code: ErrorCode;
  /** Structured detail safe to show (already bounded); returned next to the message. */
  readonly detail: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; detail?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DeployError";
    this.code = code;
    this.detail = options?.detail;
  }
}

export class ConfigError extends DeployError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CONFIG_INVALID", message, options);
    this.name = "ConfigError";
  }
}

/** A safety refusal: nothing was changed; the message says why and what to do. */
export class RefusalError extends DeployError {
  constructor(message: string, detail?: Record<string, unknown>) {
    super("REFUSED", message, detail === undefined ? undefined : { detail });
    this.name = "RefusalError";
  }
}

export class CancelledError extends DeployError {
  constructor(message = "The operation was cancelled; nothing further was changed.") {
    super("CANCELLED", message);
    this.name = "CancelledError";
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

/**
 * An error in the server's own words, for messages and summaries: a DeployError's message
 * (which never holds outside text), else only the error's class. What the error itself said
 * goes to a field through `describeError`.
 */
export function serverWordsOf(error: unknown): string {
  if (error instanceof DeployError) return error.message;
  const name = (error as Error)?.name;
  const shown = typeof name === "string" && /^[A-Za-z][A-Za-z0-9]{0,39}$/.test(name) ? name : "Error";
  return `An unexpected ${shown} occurred.`;
}

/** Longest outside text `describeError` appends. */
const DESCRIBED_CHARS = 300;

/**
 * An error for a data field (a release's failure, a warning): the server's words plus what the
 * service or the runtime said, redacted and bounded.
 */
export function describeError(error: unknown): string {
  if (error instanceof DeployError) {
    const said = error.detail?.awsMessage ?? error.detail?.cause;
    return typeof said === "string" && said ? `${error.message} Service message: ${said}` : error.message;
  }
  const message = error instanceof Error ? error.message : String(error);
  return quote(message, DESCRIBED_CHARS);
}
