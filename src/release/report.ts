import { quote } from "../core/quote.js";
import type { ReleaseRecord } from "./types.js";

/**
 * The release report: one Markdown document per release, for people. It is rendered from the
 * release record alone (so any release, old or new, has one), stored beside the record as
 * `<releaseId>.report.md` with an SVG timeline (`.timeline.svg`), and read by the MCP resource
 * and `vyaparai-deploy report`. Record fields that anyone with write access to the bucket
 * could have written (who, errors, warnings, notes) appear only as quoted, bounded data.
 */

export interface TimelineSpan {
  name: string;
  startMs: number;
  endMs: number;
}

/** The journal as spans: each phase lasts until the next one starts (the last until finishedAt). */
export function timelineOf(record: ReleaseRecord): TimelineSpan[] {
  const started = Date.parse(record.startedAt);
  const finished = record.finishedAt ? Date.parse(record.finishedAt) : Number.NaN;
  const entries = record.journal
    .map((entry) => ({ name: entry.phase, at: Date.parse(entry.at) }))
    .filter((entry) => Number.isFinite(entry.at))
    .sort((a, b) => a.at - b.at);
  const spans: TimelineSpan[] = [];
  for (const [index, entry] of entries.entries()) {
    const next = entries[index + 1]?.at ?? (Number.isFinite(finished) ? finished : entry.at);
    spans.push({ name: entry.name, startMs: entry.at, endMs: Math.max(entry.at, next) });
  }
  if (spans.length === 0 && Number.isFinite(started) && Number.isFinite(finished)) {
    spans.push({ name: "release", startMs: started, endMs: finished });
  }
  return spans;
}

const DATA_CHARS = 300;

/** Outside text as an inline code span that cannot break out of it. */
function data(value: unknown): string {
  const text = quote(typeof value === "string" ? value : JSON.stringify(value), DATA_CHARS).replace(
    /`/g,
    "'",
  );
  return `\`${text.replace(/[\r\n]+/g, " ")}\``;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

function keyValues(title: string, value: Record<string, unknown>): string[] {
  const entries = Object.entries(value).filter(([, v]) => v !== undefined && v !== null && v !== "");
  if (entries.length === 0) return [];
  return [`**${title}**`, "", ...entries.map(([k, v]) => `- ${k}: ${data(v)}`), ""];
}

export interface ReportOptions {
  /** Where the report's links point (the MCP resource of the SVG, or a file name). */
  timelineSvgName?: string;
}

export function renderReleaseReport(record: ReleaseRecord, options: ReportOptions = {}): string {
  const spans = timelineOf(record);
  const started = Date.parse(record.startedAt);
  const finished = record.finishedAt ? Date.parse(record.finishedAt) : Number.NaN;
  const total = Number.isFinite(finished) ? finished - started : null;
  const lines: string[] = [
    `# Release ${record.releaseId}: ${record.component} on ${record.env}, ${record.status}`,
    "",
    `| | |`,
    `|---|---|`,
    `| tool | ${record.tool} |`,
    `| status | ${record.status}${record.phase ? ` (last phase ${record.phase})` : ""} |`,
    `| started | ${record.startedAt} |`,
    `| finished | ${record.finishedAt ?? "not recorded"} |`,
    `| duration | ${total === null ? "unknown" : seconds(total)} |`,
    `| git | ${record.gitSha ?? "unknown"} |`,
    `| plan digest | ${data(record.planDigest)} |`,
    `| who | ${record.who ? data(record.who) : "unknown"} |`,
    ...(record.deployRole
      ? [
          `| deploy role | ${data(record.deployRole.roleArn)}, session ${data(record.deployRole.sessionName)}${record.deployRole.mfaSerial ? `, MFA ${data(record.deployRole.mfaSerial)}` : ""} |`,
        ]
      : []),
    "",
    "## Timeline",
    "",
  ];
  if (spans.length > 0) {
    lines.push(
      "```mermaid",
      "gantt",
      `  title ${record.component} release ${record.releaseId}`,
      "  dateFormat x",
      "  axisFormat %H:%M:%S",
    );
    lines.push(`  section ${record.component}`);
    for (const [index, span] of spans.entries()) {
      // Mermaid needs a visible bar: a phase of under a millisecond is drawn as one.
      lines.push(`  ${span.name} :p${index}, ${span.startMs}, ${Math.max(span.endMs, span.startMs + 1)}`);
    }
    lines.push("```", "");
    lines.push("| phase | from | took |", "|---|---|---|");
    for (const span of spans) {
      lines.push(
        `| ${span.name} | ${new Date(span.startMs).toISOString()} | ${seconds(span.endMs - span.startMs)} |`,
      );
    }
    lines.push("");
  } else {
    lines.push("No journal was recorded.", "");
  }
  if (options.timelineSvgName) lines.push(`![timeline](${options.timelineSvgName})`, "");
  const timings = Object.entries(record.timings);
  if (timings.length > 0) {
    lines.push("### Steps", "", "| step | took |", "|---|---|");
    // Timings are recorded as "<step>Ms" (and "totalMs"); the unit is in the column.
    for (const [step, ms] of timings) lines.push(`| ${step.replace(/Ms$/, "")} | ${seconds(ms)} |`);
    lines.push("");
  }
  lines.push("## What changed", "");
  lines.push(...keyValues("Before", record.before), ...keyValues("After", record.after));
  lines.push(...keyValues("Artifacts", record.artifacts));
  if (record.manifest)
    lines.push(`The release's manifest lists ${Object.keys(record.manifest).length} entries.`, "");
  if (record.restoredFrom) lines.push(`This rollback restored ${data(record.restoredFrom)}.`, "");
  lines.push(...healthSection(record.health));
  lines.push(...canarySection((record as { canary?: unknown }).canary));
  if (record.recovery) {
    lines.push(
      "## Recovery",
      "",
      `Settled by ${data(record.recovery.by)} at ${record.recovery.at}: ${record.recovery.outcome}.`,
      "",
      `Note: ${data(record.recovery.note)}`,
      "",
    );
  }
  if (record.error || (record.warnings?.length ?? 0) > 0) {
    lines.push("## Problems", "");
    if (record.error) lines.push(`- error: ${data(record.error)}`);
    for (const warning of record.warnings ?? []) lines.push(`- warning: ${data(warning)}`);
    lines.push("");
  }
  lines.push("## How to roll back", "", ...rollbackLines(record), "");
  return `${lines.join("\n")}\n`;
}

function healthSection(health: unknown): string[] {
  if (!health || typeof health !== "object") return [];
  const report = health as { verdict?: unknown; targets?: Array<Record<string, unknown>>; lambda?: unknown };
  const lines = [
    "## Health",
    "",
    `Verdict: **${typeof report.verdict === "string" ? report.verdict : "unknown"}**`,
    "",
  ];
  if (Array.isArray(report.targets) && report.targets.length > 0) {
    lines.push("| target | verdict | status | p50 ms | p95 ms | passed |", "|---|---|---|---|---|---|");
    for (const t of report.targets.slice(0, 20)) {
      const num = (v: unknown) => (typeof v === "number" ? String(Math.round(v)) : "-");
      lines.push(
        `| ${data(t.name)} | ${String(t.verdict ?? "-")} | ${num(t.status)} | ${num(t.p50Ms)} | ${num(t.p95Ms)} | ${num(t.passed)}/${num(t.attempts)} |`,
      );
    }
    lines.push("");
  }
  if (report.lambda) lines.push(`Lambda: ${data(report.lambda)}`, "");
  return lines;
}

function canarySection(canary: unknown): string[] {
  if (!canary || typeof canary !== "object") return [];
  return [
    "## Canary",
    "",
    ...Object.entries(canary as Record<string, unknown>).map(([k, v]) => `- ${k}: ${data(v)}`),
    "",
  ];
}

function rollbackLines(record: ReleaseRecord): string[] {
  if (record.component === "infra") {
    return [
      "Terraform changes are rolled back by a new change: revert the commit, then `terraform_plan` and `terraform_apply` the reviewed plan (`/deploy infra`).",
    ];
  }
  const base = `npx vyaparai-deploy rollback --env ${record.env} --component ${record.component}`;
  return [
    "To the release before this one (or, for the first release made by the tool, what was live before it):",
    "",
    "```bash",
    base,
    "```",
    "",
    "Back to this release later:",
    "",
    "```bash",
    `${base} --to ${record.releaseId}`,
    "```",
  ];
}
