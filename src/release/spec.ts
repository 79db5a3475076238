import type { ProgressReporter } from "../core/context.js";
import type { RecordPatch } from "./journal.js";
import type { LockInfo } from "./lock.js";
import type { Component, Phase, Recovery, ReleaseRecord } from "./types.js";

/**
 * A guarded change, as the one flow (runRelease) runs it. A tool describes only what is its
 * own — the canonical plan, the named steps, how to verify, how to undo, how to read back
 * what is live — and the flow does token, approval, tests first, lock, journal, recovery of
 * interrupted releases, progress, cancellation, deadlines, the undo budget, the final record,
 * notification and the typed result.
 */
export interface ReleaseSpec<Plan, State, Live> {
  component: Component;
  /** Canonical, timestamp-free plan; its digest is what a confirmation token confirms. */
  plan: Plan;
  /** The digest to confirm instead of the plan's own (terraform: the saved plan file's hash). */
  planDigest?: string;
  /** What the person approving is shown (the server's own words). */
  approvalText: string;
  /** Deploys need a passing preflight on protected envs; rollbacks and applies do not. */
  requirePreflight: boolean;
  /** The tree the release packages (Lambda): the passing preflight must have tested the same. */
  treeDigest?: string | undefined;
  confirmationToken?: string | undefined;
  breakLock: boolean;
  /** Working state the steps share (versions published, files uploaded, …). */
  state: State;
  /** Facts in the record from the start (before, artifacts, manifest, recoveryFacts). */
  record: RecordPatch;
  /** What the next guarded call would do if this release were found interrupted in `phase`. */
  recoveryPlan(phase: Phase): string;
  steps: Array<ReleaseStep<State>>;
  /** After the release passed its gate (stale files, invalidation): failures become warnings. */
  cleanup?: Array<ReleaseStep<State>>;
  /**
   * Plans again from live state. Called when this call first recovered an interrupted release
   * that changed what is live, so the change goes ahead only against what it was planned on;
   * null when nothing is left to do.
   */
  replan?: () => Promise<ReleaseSpec<Plan, State, Live> | null>;
  /** The health gate after the last step; a failed verification is undone. */
  verify?: {
    name: string;
    deadlineMs?: number;
    run(state: State, io: StepIo): Promise<Verification>;
  };
  /**
   * Puts the previous release back. Idempotent: it reads what is live first and reports
   * `nothing_to_undo` when the previous release never stopped serving. Retried within the
   * undo budget.
   */
  undo?: {
    name: string;
    run(state: State, io: StepIo): Promise<"undone" | "nothing_to_undo">;
    /** The one command that fixes it by hand when every retry failed. */
    fixCommand(state: State): string;
  };
  /**
   * Phases entered without a write of their own: their entry (with its time) goes out with the
   * next record write. Only for phases after the switch whose recovery reads live state, not
   * the phase (the frontend's verifying and finishing): each saves a round trip.
   */
  phasesRecordedLate?: ReadonlyArray<Phase>;
  /** Cleanup never changes what readLive reads: on success the read-back runs beside it. */
  readLiveDuringCleanup?: boolean;
  /** Reads what serves now, for an answer that says what is live instead of assuming it. */
  readLive(signal: AbortSignal): Promise<Live>;
  /** The record's `after` (and any other facts) from what was read back. */
  recordLive(live: Live, state: State, status: ReleaseOutcome): RecordPatch;
}

export interface ReleaseStep<State> {
  name: string;
  /** The journal phase written before this step runs. */
  phase: Phase;
  /** Once this step starts, live state may differ from the previous release: a failure is undone. */
  touchesLive?: boolean;
  /** After the switch: a failure becomes a warning and the release goes on. */
  bestEffort?: boolean;
  deadlineMs?: number;
  /**
   * The step starts while the journal write of its phase is in flight (StepIo.recorded says
   * when it landed) and counts as done only once that write landed too. For a step whose work
   * before `recorded` only reads, and whose writes after it are covered by the record already
   * written (recovery settles them the same in either phase): a round trip fewer per step.
   */
  startsWhileRecording?: boolean;
  run(state: State, io: StepIo): Promise<void>;
}

export interface StepIo {
  readonly releaseId: string;
  readonly gitSha: string | null;
  readonly signal: AbortSignal;
  readonly progress: ProgressReporter;
  /**
   * Settles once the journal write before this step landed; rejects when it failed. Already
   * settled unless the step startsWhileRecording: such a step awaits it before its first write.
   */
  readonly recorded: Promise<void>;
  /** Merges facts into the release record (written with the next journal write). */
  note(patch: RecordPatch): void;
  /**
   * Merges facts and writes the record now, in the phase it is in: for a long step that
   * reports what it has seen so far (a canary's figures). Throws when S3 refuses; the facts
   * then still go out with the next journal write.
   */
  checkpoint(patch: RecordPatch): Promise<void>;
  /** Adds a warning to the answer and the record. */
  warn(message: string): void;
}

export interface Verification {
  ok: boolean;
  /** Why it failed, in the server's own words (names and statuses, no outside text). */
  reason?: string;
  /** The full health report (outside text lives in its own fields there). */
  report?: unknown;
}

/** What the automatic undo did: its result, or why it gave up and the command that fixes it. */
export interface UndoReport {
  ok: boolean;
  result?: "undone" | "nothing_to_undo";
  attempts: number;
  error?: string;
  fixCommand?: string;
}

export type ReleaseOutcome = "succeeded" | "failed" | "rolled_back";

/** What a finished release reports; each tool writes its summary from this. */
export interface ReleaseRun<State, Live> {
  kind: "finished";
  releaseId: string;
  planDigest: string;
  /** When the flow started (epoch ms), e.g. for error logs since then. */
  startedAtMs: number;
  /** succeeded: the new release is live and passed; rolled_back: it was live and was undone;
   * failed: it did not go live, or the undo failed (see undo). */
  status: ReleaseOutcome;
  cancelled: boolean;
  /** The phase the journal reached. */
  phase: Phase;
  state: State;
  /** What serves now, read back after the flow; null when the read failed (see liveError). */
  live: Live | null;
  liveError?: string;
  failure?: { step: string; message: string };
  verification?: Verification;
  undo?: UndoReport;
  /** A lock this call took over or broke before it started. */
  replacedLock: (LockInfo & { how: "taken_over" | "broken" }) | null;
  /** Interrupted releases of this env that this call recovered before its own. */
  recovered: RecoveredRelease[];
  warnings: string[];
  timings: Record<string, number>;
}

export interface ConfirmationRequired {
  kind: "confirmation_required";
  planDigest: string;
  confirmationToken: string;
  expiresAt: string;
  /** Why the confirmed call would be refused now (tests first), so it can be fixed first. */
  blockedBy?: string;
}

export type ReleaseResult<State, Live> = ConfirmationRequired | ReleaseRun<State, Live>;

export interface RecoveredRelease {
  releaseId: string;
  component: Component;
  tool: string;
  phase: Phase | null;
  outcome: Recovery["outcome"];
  note: string;
}

/** What a component's recovery found and did; the flow records it. */
export interface RecoveryResult {
  outcome: Recovery["outcome"];
  note: string;
  /** What is live now, for the record's `after`. */
  after?: Record<string, unknown>;
}

export interface RecoveryIo {
  readonly signal: AbortSignal;
  readonly progress: ProgressReporter;
  readonly undoBudgetMs: number;
}

/** Recovery per component, supplied by the layer that knows the domains (tools/). */
export type Recoverers = Partial<
  Record<Component, (record: ReleaseRecord, io: RecoveryIo) => Promise<RecoveryResult>>
>;
