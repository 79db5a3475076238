export type LogLevel = "debug" | "info" | "notice" | "warning" | "error";

export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
}

/** What a person is asked before a protected mutation (form elicitation). */
export interface ApprovalRequest {
  message: string;
}
export type ApprovalAnswer = "accept" | "decline" | "cancel";

/** Asks the person for a one-time code (MFA) out of the model's sight: client → server only. */
export interface CodeRequest {
  message: string;
}
export type CodeAnswer = { action: "accept"; code: string } | { action: "decline" | "cancel" };

export type ProgressReporter = (message: string, progress?: number, total?: number) => void;
export type Clock = () => Date;

/**
 * Signs and checks confirmation tokens. The server builds it around its secret; everything
 * below the server only ever holds this capability, never the key itself.
 */
export interface TokenSigner {
  /** base64url HMAC of `body`. */
  sign(body: string): string;
  /** Constant-time check of `mac` against `body`. */
  verify(body: string, mac: string): boolean;
}

/** A passing (or failing) preflight kept for the tests-first gate. */
export interface StoredPreflight {
  preflightId: string;
  env: string;
  gitSha: string | null;
  clean: boolean;
  ok: boolean;
  /** ISO time the preflight finished. */
  at: string;
  components: string[];
  /**
   * The backend tree the tests ran on: HEAD plus every file the Lambda package would hold (see
   * deploy/lambda/tree.ts); null when the backend was not checked or the tree had problems.
   */
  treeDigest?: string | null;
}

/** What one server or CLI process remembers between calls (never module-level state). */
export interface SessionState {
  /** Nonces of confirmation tokens this process has spent (see release/tokens). */
  readonly usedTokenNonces: Set<string>;
  /** Preflights by env, kept in memory (and on disk by release/preflight-records). */
  readonly preflights: Map<string, StoredPreflight>;
  /**
   * Releases still running after their call answered (wait: false, a long canary bake). The
   * server waits for them before it closes its AWS clients when the client goes away.
   */
  readonly background: Set<Promise<void>>;
}
