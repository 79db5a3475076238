import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * What a fuzz file saw. Violations keep going (they are collected, not thrown) so one run
 * reports every kind of bug it meets; each test asserts its own counts are zero at the end.
 */
export interface FuzzStats {
  suite: string;
  cases: number;
  /** The server process died. */
  crashes: number;
  /** A request with a usable id got no answer within the bound. */
  hangs: number;
  /** An invalid call came back as a success. */
  invalidAccepted: number;
  /** An error that does not name the field (or unknown key) that was broken. */
  unnamed: number;
  /** An id that got more than one answer, or an answer that is not well-formed. */
  badAnswers: number;
  /** Replies over the size bound. */
  oversized: number;
  /** Read-backs that found a change in the emulated AWS. */
  awsChanges: number;
  largestReplyBytes: number;
  largestReplyCase: string;
  largestErrorReplyBytes: number;
  slowestAnswerMs: number;
  /** Cases sent with no defect (tools: read-only ones only; JSON-RPC: requests nothing refuses). */
  validCases: number;
  /** How often each kind of defect was sent (a case can carry several). */
  perDefect: Record<string, number>;
  largestRequestBytes: number;
  /** Requests of 1 MB or more. */
  megabyteRequests: number;
  /** Per tool (or message class): cases tried. */
  perTarget: Record<string, number>;
  wallMs: number;
}

export interface Violation {
  kind: "crash" | "hang" | "invalidAccepted" | "unnamed" | "badAnswer" | "oversized" | "awsChange";
  target: string;
  detail: string;
}

export class FuzzRecorder {
  readonly stats: FuzzStats;
  readonly violations: Violation[] = [];
  private readonly started = performance.now();

  constructor(suite: string) {
    this.stats = {
      suite,
      cases: 0,
      crashes: 0,
      hangs: 0,
      invalidAccepted: 0,
      unnamed: 0,
      badAnswers: 0,
      oversized: 0,
      awsChanges: 0,
      largestReplyBytes: 0,
      largestReplyCase: "",
      largestErrorReplyBytes: 0,
      slowestAnswerMs: 0,
      validCases: 0,
      perDefect: {},
      largestRequestBytes: 0,
      megabyteRequests: 0,
      perTarget: {},
      wallMs: 0,
    };
  }

  tried(target: string, requestBytes: number, defects: readonly string[] = []): void {
    this.stats.cases++;
    this.stats.perTarget[target] = (this.stats.perTarget[target] ?? 0) + 1;
    this.stats.largestRequestBytes = Math.max(this.stats.largestRequestBytes, requestBytes);
    if (requestBytes >= 1_000_000) this.stats.megabyteRequests++;
    for (const defect of defects) this.stats.perDefect[defect] = (this.stats.perDefect[defect] ?? 0) + 1;
  }

  validCase(): void {
    this.stats.validCases++;
  }

  reply(bytes: number, isError: boolean, ms: number, describe: () => string): void {
    if (bytes > this.stats.largestReplyBytes) {
      this.stats.largestReplyBytes = bytes;
      this.stats.largestReplyCase = describe().slice(0, 300);
    }
    if (isError) this.stats.largestErrorReplyBytes = Math.max(this.stats.largestErrorReplyBytes, bytes);
    this.stats.slowestAnswerMs = Math.max(this.stats.slowestAnswerMs, ms);
  }

  violation(kind: Violation["kind"], target: string, detail: string): void {
    const counter = {
      crash: "crashes",
      hang: "hangs",
      invalidAccepted: "invalidAccepted",
      unnamed: "unnamed",
      badAnswer: "badAnswers",
      oversized: "oversized",
      awsChange: "awsChanges",
    } as const;
    this.stats[counter[kind]]++;
    this.violations.push({ kind, target, detail: detail.slice(0, 1_500) });
  }

  /** Violations of `target` (all when omitted), one per line, for an assertion message. */
  report(target?: string): string {
    return this.violations
      .filter((v) => target === undefined || v.target === target)
      .slice(0, 25)
      .map((v) => `[${v.kind}] ${v.target}: ${v.detail}`)
      .join("\n");
  }

  /** Prints the one FUZZ-STATS line and writes the same numbers to a JSON file in the temp dir. */
  publish(): string {
    this.stats.wallMs = Math.round(performance.now() - this.started);
    const file = join(tmpdir(), `vyaparai-deploy-fuzz-${this.stats.suite}.json`);
    writeFileSync(file, `${JSON.stringify({ ...this.stats, violations: this.violations }, null, 2)}\n`);
    const { perTarget: _perTarget, perDefect: _perDefect, largestReplyCase: _case, ...headline } = this.stats;
    console.log(`FUZZ-STATS ${JSON.stringify({ ...headline, file })}`);
    return file;
  }
}
