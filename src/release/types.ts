import type { ToolContext } from "./context.js";

/**
 * Contracts shared by the safety core and the destructive tools. The guard
 * (safety/guard.ts) runs every protected mutation: confirmation token, person approval,
 * tests-first gate, deploy lock, release record.
 */
export type Component = "lambda" | "frontend" | "infra";
export type ReleaseStatus = "in_progress" | "succeeded" | "failed" | "rolled_back";

/** releases/<env>/<component>/<releaseId>.json in the env's artifact bucket. */
export interface ReleaseRecord {
  releaseId: string;
  env: string;
  component: Component;
  /** Tool that made it: deploy_lambda, deploy_frontend, terraform_apply, rollback. */
  tool: string;
  status: ReleaseStatus;
  /** STS caller ARN. */
  who: string | null;
  gitSha: string | null;
  startedAt: string;
  finishedAt: string | null;
  planDigest: string;
  /** e.g. { artifactKey, codeSha256, codeSha256Hex } for lambda. */
  artifacts: Record<string, unknown>;
  /** Live state before and after, e.g. { version, codeSha256 } or { indexHtmlHash }. */
  before: Record<string, unknown>;
  after: Record<string, unknown>;
  /** Frontend: key → file facts; lambda: zip entry → sha256 (for "what changed"). */
  manifest?: Record<string, unknown>;
  health?: unknown;
  /** Step name → milliseconds. */
  timings: Record<string, number>;
  error?: string;
  /** For a rollback: the release id (or version) it restored. */
  restoredFrom?: string;
}

export interface ReleaseHandle {
  readonly releaseId: string;
  readonly gitSha: string | null;
  /** Merges fields into the record and writes it (status stays in_progress). */
  update(patch: Partial<ReleaseRecord>): Promise<void>;
}

export interface MutationOutcome<R> {
  status: Exclude<ReleaseStatus, "in_progress">;
  result: R;
  /** Fields to merge into the final record. */
  record?: Partial<ReleaseRecord>;
}

export interface GuardedMutationRequest<P> {
  ctx: ToolContext;
  component: Component;
  /** Canonical, timestamp-free plan; its digest is what a token confirms. */
  plan: P;
  /**
   * When given, the digest a token confirms instead of the hash of `plan` (terraform: the
   * saved plan file's SHA-256, issued as a token by terraform_plan).
   */
  planDigest?: string;
  /** One paragraph describing the change, shown to the person approving it. */
  planSummary: string;
  confirmationToken?: string | undefined;
  breakLock?: boolean | undefined;
  /** Deploys need a passing preflight on protected envs; rollbacks and applies do not. */
  requirePreflight: boolean;
}

export type GuardResult<R> =
  | {
      kind: "confirmation_required";
      planDigest: string;
      confirmationToken: string;
      expiresAt: string;
      /**
       * Why the confirmed call would be refused right now (e.g. "Tests first: no preflight…"),
       * so the caller can fix it before asking the user; absent when nothing blocks it.
       */
      blockedBy?: string;
    }
  | {
      kind: "done";
      planDigest: string;
      releaseId: string;
      status: MutationOutcome<R>["status"];
      result: R;
      /** Problems after the mutation that did not undo it (e.g. the final record write failed). */
      warnings?: string[];
    };
