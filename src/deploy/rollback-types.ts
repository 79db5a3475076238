/** What a rollback of either component returns (the rollback tool's output). */
export interface RollbackOutput {
  summary: string;
  status: "planned" | "confirmation_required" | "rolled_back" | "unchanged" | "failed";
  /** What was live: release id, or "version N". */
  from: string | null;
  /** What is (or would be) live after. */
  to: string | null;
  releaseId?: string;
  confirmationToken?: string;
  expiresAt?: string;
  health?: Record<string, unknown>;
  plan?: Record<string, unknown>;
}

export interface RollbackRequest {
  to?: string | undefined;
  dryRun: boolean;
  confirmationToken?: string | undefined;
  breakLock: boolean;
}
