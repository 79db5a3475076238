import type { S3Client } from "@aws-sdk/client-s3";
import { retryWithin } from "../core/budget.js";
import type { Clock } from "../core/context.js";
import { DeployError } from "../core/errors.js";
import { writeReleaseRecord } from "./records.js";
import type { FinalStatus, Phase, ReleaseRecord } from "./types.js";

/** The record fields a release's steps may add to (identity fields are the flow's). */
export type RecordPatch = Partial<
  Pick<
    ReleaseRecord,
    | "artifacts"
    | "before"
    | "after"
    | "manifest"
    | "health"
    | "evidence"
    | "restoredFrom"
    | "recoveryFacts"
    | "timings"
  >
>;

/** How long one record write may keep retrying (S3 blips, throttling) before it counts as failed. */
export const RECORD_WRITE_BUDGET_MS = 10_000;

/**
 * The release record as a journal. `advance` writes the phase before the step that enters it
 * and must succeed: a step that changes live state never runs unrecorded. `note` merges facts
 * that go out with the next write. `finish` writes the final record, retried; its failure is
 * a warning for the answer, never a reason to hide what happened.
 */
export class Journal {
  private record: ReleaseRecord;
  /** The record holds a phase entered with `enter` that no write has carried out yet. */
  private unwritten = false;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    initial: ReleaseRecord,
    private readonly now: Clock,
    private readonly recoveryPlan: (phase: Phase) => string,
    private readonly writeBudgetMs = RECORD_WRITE_BUDGET_MS,
  ) {
    this.record = initial;
  }

  get current(): ReleaseRecord {
    return this.record;
  }

  get phase(): Phase | undefined {
    return this.record.phase;
  }

  note(patch: RecordPatch): void {
    this.record = merge(this.record, patch);
  }

  /**
   * Enters `phase` in memory only: the entry (with its own time) goes out with the next write,
   * which `advance` makes before the step that follows. A release's first phase and its first
   * step's phase then cost one record write, not two; `flush` writes it alone when needed.
   */
  enter(phase: Phase, patch: RecordPatch = {}): void {
    this.note(patch);
    this.record = this.entered(phase);
    this.unwritten = true;
  }

  /** Writes what `enter` left unwritten; throws when S3 refuses. */
  async flush(): Promise<void> {
    if (!this.unwritten || !this.record.phase) return;
    await this.advance(this.record.phase);
  }

  /** Enters `phase` (a no-op when already there and written) and writes the record; throws when S3 refuses. */
  async advance(phase: Phase, patch: RecordPatch = {}): Promise<void> {
    this.note(patch);
    if (this.record.phase === phase && Object.keys(patch).length === 0 && !this.unwritten) return;
    const before = this.record;
    this.record = this.entered(phase);
    const written = await this.write();
    if (written.ok) this.unwritten = false;
    else {
      // The step does not start, so the journal stays in the phase it last recorded.
      this.record = {
        ...this.record,
        phase: before.phase,
        recoveryPlan: before.recoveryPlan,
        journal: before.journal,
      };
      throw new DeployError(
        "AWS_ERROR",
        `The release record could not be written before phase ${phase} (${written.error}); the step was not started.`,
      );
    }
  }

  private entered(phase: Phase): ReleaseRecord {
    return {
      ...this.record,
      phase,
      recoveryPlan: this.recoveryPlan(phase),
      journal:
        this.record.phase === phase
          ? this.record.journal
          : [...this.record.journal, { phase, at: this.now().toISOString() }],
    };
  }

  /** Writes the final record; false when every attempt failed. */
  async finish(status: FinalStatus, patch: RecordPatch & { error?: string; warnings?: string[] }) {
    const { error, warnings, ...facts } = patch;
    this.record = {
      ...merge(this.record, facts),
      status,
      finishedAt: this.now().toISOString(),
      ...(error !== undefined ? { error } : {}),
      ...(warnings?.length ? { warnings } : {}),
    };
    const written = await this.write();
    if (written.ok) this.unwritten = false;
    return written;
  }

  private async write(): Promise<{ ok: boolean; error?: string }> {
    const outcome = await retryWithin(() => writeReleaseRecord(this.s3, this.bucket, this.record), {
      budgetMs: this.writeBudgetMs,
      minWaitMs: 200,
      maxWaitMs: 2_000,
    });
    return outcome.ok ? { ok: true } : { ok: false, error: outcome.error?.message ?? "unknown error" };
  }
}

function merge(record: ReleaseRecord, patch: RecordPatch): ReleaseRecord {
  return {
    ...record,
    ...patch,
    artifacts: { ...record.artifacts, ...(patch.artifacts ?? {}) },
    before: { ...record.before, ...(patch.before ?? {}) },
    after: { ...record.after, ...(patch.after ?? {}) },
    timings: { ...record.timings, ...(patch.timings ?? {}) },
  };
}
