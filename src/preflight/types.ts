import { quote } from "../core/quote.js";
import type { TestCounts } from "./test-results.js";

/** Shapes shared by the preflight checks and the orchestrator (DESIGN.md §2, preflight). */
export type CheckStatus = "pass" | "warn" | "fail";
export type PreflightComponent = "backend" | "frontend" | "infra";
export const ALL_COMPONENTS: readonly PreflightComponent[] = ["backend", "frontend", "infra"];

export interface PreflightCheck {
  name: string;
  status: CheckStatus;
  /** Our own words only: never text copied from test output or other untrusted sources. */
  detail: string;
  remedy?: string;
  /**
   * Outside text the check found (file and branch names, an ARN, a service's message, a
   * recorded recovery plan): bounded, redacted, data only; `detail` points here instead.
   */
  evidence?: string[];
  /** Tail of a command's output: untrusted text, bounded, returned as data only. */
  output?: string;
  /** Parsed from a test command's output. */
  testCounts?: Omit<TestCounts, "format">;
  durationMs?: number;
}

export interface PreflightReport {
  summary: string;
  ok: boolean;
  preflightId: string;
  gitSha: string | null;
  env: string;
  components: PreflightComponent[];
  /** When the tree was read and the checks started (a preflight's age counts from here). */
  at: string;
  counts: Record<CheckStatus, number>;
  durationMs: number;
  checks: PreflightCheck[];
}

const RANK: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

export function worstStatus(statuses: CheckStatus[]): CheckStatus {
  return statuses.reduce<CheckStatus>((worst, s) => (RANK[s] > RANK[worst] ? s : worst), "pass");
}

/** One observation inside a check; a check is the worst of its findings. */
export interface Finding {
  status: CheckStatus;
  /** Our own words only, like PreflightCheck.detail. */
  text: string;
  remedy?: string;
  evidence?: string[];
}

/** Most evidence lines one check returns, and the longest line. */
const EVIDENCE_LINES = 20;
const EVIDENCE_CHARS = 300;

/** Outside text as evidence lines: each redacted and bounded, the list bounded. */
export function asEvidence(lines: readonly string[]): string[] {
  return lines.slice(0, EVIDENCE_LINES).map((line) => quote(line, EVIDENCE_CHARS));
}

/** Folds findings into one check: worst status, sentences joined, the remedy of the first worst one. */
export function checkFromFindings(name: string, findings: Finding[]): PreflightCheck {
  const status = worstStatus(findings.map((f) => f.status));
  const detail = findings.map((f) => f.text).join(" ");
  const remedy = findings.find((f) => f.status === status && f.remedy)?.remedy;
  const evidence = asEvidence(findings.flatMap((f) => f.evidence ?? []));
  return {
    name,
    status,
    detail,
    ...(status !== "pass" && remedy ? { remedy } : {}),
    ...(evidence.length ? { evidence } : {}),
  };
}
