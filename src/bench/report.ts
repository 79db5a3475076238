import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, freemem, release, totalmem, type } from "node:os";
import { join } from "node:path";
import type { BenchArgs } from "./args.js";
import { passes, type Row, ratioOf, type Target } from "./results.js";

export interface Machine {
  cpus: number;
  model: string;
  memoryGb: number;
  freeMemoryGb: number;
  os: string;
  node: string;
}

export function describeMachine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    model: list[0]?.model.trim() ?? "unknown",
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    freeMemoryGb: Math.round((freemem() / 1024 ** 3) * 10) / 10,
    os: `${type()} ${release()} ${arch()}`,
    node: process.version,
  };
}

function formatValue(value: number | null, unit: Row["unit"]): string {
  if (value === null) return "—";
  if (unit === "MB") return `${value.toFixed(1)} MB`;
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function formatTarget(target: Target, unit: Row["unit"]): string {
  if (target.kind === "ratio") return `≤ ${target.max}×`;
  return unit === "MB" ? `≤ ${target.max} MB` : `≤ ${target.max / 1000} s`;
}

/** The results table in Markdown: it reads fine in a terminal and in RESULTS.md. */
export function formatTable(rows: Row[]): string {
  const header = "| scenario | ours (median) | baseline (median) | ratio | target | result | notes |";
  const rule = "|---|---:|---:|---:|---|---|---|";
  const lines = rows.map((row) => {
    const ratio = ratioOf(row);
    const failed = row.checks.filter((check) => !check.ok).map((check) => `FAILED: ${check.what}`);
    const passed = row.checks.filter((check) => check.ok).map((check) => check.what);
    const notes = row.unavailable ? [row.unavailable] : [...failed, ...passed, ...row.notes];
    return `| ${row.id} | ${formatValue(row.ours, row.unit)} | ${formatValue(row.baseline, row.unit)} | ${
      ratio === null ? "—" : `${ratio.toFixed(2)}×`
    } | ${formatTarget(row.target, row.unit)} | ${passes(row) ? "pass" : "FAIL"} | ${notes.join("; ").replaceAll("|", "\\|")} |`;
  });
  return [header, rule, ...lines].join("\n");
}

export interface BenchReport {
  date: string;
  machine: Machine;
  args: BenchArgs;
  fixtures: string[];
  rows: Row[];
  durationMs: number;
}

/** Raw runs of every scenario, for comparing runs later (bench/results/ is not committed). */
export function writeRawResults(projectDir: string, report: BenchReport): string {
  const dir = join(projectDir, "bench/results");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${report.date.replaceAll(":", "-")}.json`);
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

export function writeResultsMarkdown(projectDir: string, report: BenchReport): string {
  const { machine, args } = report;
  const text = `# Benchmark results

Written by \`npm run bench -- --write\`; see [README.md](README.md) for what each scenario measures.
Compare only figures from the same run: every ratio is against a baseline measured on the same
machine, the same emulator and the same fixtures, minutes apart.

- Date: ${report.date}
- Machine: ${machine.cpus} × ${machine.model}, ${machine.memoryGb} GB memory, ${machine.os}
- Node: ${machine.node}
- Runs: ${args.runs} measured after 1 warm-up, size \`${args.size}\`; whole run ${(report.durationMs / 1000).toFixed(0)} s
- Fixtures: ${report.fixtures.join("; ")}

${formatTable(report.rows)}
`;
  const path = join(projectDir, "bench/RESULTS.md");
  writeFileSync(path, text);
  return path;
}
