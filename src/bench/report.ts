import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, freemem, loadavg, release, totalmem, type } from "node:os";
import { join } from "node:path";
import type { BenchArgs } from "./args.js";
import { CONNECT_RTTS } from "./network-proxy.js";
import { type Row, ratioOf, type Target, verdictOf } from "./results.js";

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

function formatTarget(target: Target | null, unit: Row["unit"]): string {
  if (target === null) return "—";
  if (target.kind === "ratio") return `≤ ${target.max}×`;
  return unit === "MB" ? `≤ ${target.max} MB` : `≤ ${target.max / 1000} s`;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(ms >= 10_000 ? 1 : 2)} s`;

function motoNote(row: Row): string | null {
  const { ours, baseline } = row.motoBusyMs;
  if (ours === null && baseline === null) return null;
  const part = (busy: number | null, total: number | null) =>
    busy === null ? "—" : total ? `${secs(busy)} (${Math.round((100 * busy) / total)}%)` : secs(busy);
  return `moto busy ours ${part(ours, row.ours)} / baseline ${part(baseline, row.baseline)}`;
}

/** The results table in Markdown: it reads fine in a terminal and in RESULTS.md. */
export function formatTable(rows: Row[]): string {
  const header =
    "| scenario | column | ours (median) | baseline (median) | ratio | target | result | requests ours/baseline | peak RSS | notes |";
  const rule = "|---|---|---:|---:|---:|---|---|---:|---:|---|";
  const lines = rows.map((row) => {
    const ratio = ratioOf(row);
    const failed = row.checks.filter((check) => !check.ok).map((check) => `FAILED: ${check.what}`);
    const passed = row.checks.filter((check) => check.ok).map((check) => check.what);
    const moto = motoNote(row);
    const notes = row.unavailable
      ? [row.unavailable]
      : [...failed, ...passed, ...row.notes, ...(moto ? [moto] : [])];
    const requests =
      row.requests.ours === null && row.requests.baseline === null
        ? "—"
        : `${row.requests.ours === null ? "—" : Math.round(row.requests.ours)} / ${
            row.requests.baseline === null ? "—" : Math.round(row.requests.baseline)
          }`;
    return `| ${row.id} | ${row.column} | ${formatValue(row.ours, row.unit)} | ${formatValue(row.baseline, row.unit)} | ${
      ratio === null ? "—" : `${ratio.toFixed(2)}×`
    } | ${formatTarget(row.target, row.unit)} | ${verdictOf(row)} | ${requests} | ${
      row.peakRssMb === null ? "—" : `${row.peakRssMb.toFixed(0)} MB`
    } | ${notes.join("; ").replaceAll("|", "\\|")} |`;
  });
  return [header, rule, ...lines].join("\n");
}

/** Every missed target, with how far off it is: what the product has to gain. */
export function describeMisses(rows: Row[]): string[] {
  return rows
    .filter((row) => verdictOf(row) === "FAIL")
    .map((row) => {
      const at = `${row.id} @ ${row.column}`;
      if (row.unavailable !== undefined || row.ours === null)
        return `${at}: ${row.unavailable ?? "no number"}`;
      const checks = row.checks.filter((check) => !check.ok).map((check) => check.what);
      const target = row.target;
      const parts: string[] = [];
      if (target?.kind === "ratio") {
        const ratio = ratioOf(row);
        if (ratio !== null && ratio > target.max && row.baseline !== null) {
          const needed = target.max * row.baseline;
          parts.push(
            `${ratio.toFixed(2)}× vs ≤ ${target.max}×: ours ${formatValue(row.ours, row.unit)} must come down to ≤ ${formatValue(needed, row.unit)} (−${Math.round(100 * (1 - needed / row.ours))}%, ${(row.ours / needed).toFixed(2)}× faster) against ${formatValue(row.baseline, row.unit)}`,
          );
        } else if (ratio === null) parts.push("no baseline figure");
      } else if (target?.kind === "absolute" && row.ours > target.max) {
        parts.push(
          `${formatValue(row.ours, row.unit)} vs ≤ ${formatTarget(target, row.unit).slice(2)} (over by ${formatValue(row.ours - target.max, row.unit)}, ${Math.round((100 * (row.ours - target.max)) / target.max)}%)`,
        );
      }
      if (checks.length) parts.push(`failed checks: ${checks.join(", ")}`);
      return `${at}: ${parts.join("; ")}`;
    });
}

/**
 * Rows where moto itself takes half or more of a side's time: there the emulator, not the
 * network or the tool, bounds the figure, and the same work on AWS would go faster.
 */
export function describeMotoFloor(rows: Row[]): string[] {
  const lines: string[] = [];
  for (const row of rows) {
    const sides: string[] = [];
    for (const side of ["ours", "baseline"] as const) {
      const busy = row.motoBusyMs[side];
      const total = row[side];
      if (busy === null || !total || row.unit !== "ms") continue;
      if (busy / total >= 0.5)
        sides.push(`${side === "ours" ? "ours" : "the baseline"} (${secs(busy)} of ${secs(total)})`);
    }
    if (sides.length) lines.push(`${row.id} @ ${row.column}: ${sides.join(" and ")}`);
  }
  return lines;
}

export interface BenchReport {
  date: string;
  machine: Machine;
  args: BenchArgs;
  /** The baselines' programs and versions. */
  tools: string[];
  fixtures: string[];
  rows: Row[];
  durationMs: number;
  /** 1-minute load average sampled through the run: other work on the machine slows moto and both sides. */
  load: { start: number; mean: number; max: number };
}

/** Samples the 1-minute load average every 30 s until `stop()`. */
export function sampleLoad(): { stop(): { start: number; mean: number; max: number } } {
  const round = (n: number) => Math.round(n * 10) / 10;
  const samples = [loadavg()[0] as number];
  const timer = setInterval(() => samples.push(loadavg()[0] as number), 30_000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      samples.push(loadavg()[0] as number);
      return {
        start: round(samples[0] as number),
        mean: round(samples.reduce((a, b) => a + b, 0) / samples.length),
        max: round(Math.max(...samples)),
      };
    },
  };
}

/** Raw runs of every scenario, for comparing runs later (bench/results/ is not committed). */
export function writeRawResults(projectDir: string, report: BenchReport): string {
  const dir = join(projectDir, "bench/results");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${report.date.replaceAll(":", "-")}.json`);
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

export function describeColumns(args: BenchArgs): string {
  return args.shapes
    .map((shape) =>
      shape.rttMs === 0
        ? "loopback (the proxy counts, adds nothing)"
        : `${shape.id} (${shape.rttMs} ms round trip, ${shape.bandwidthMbit} Mbit/s up)`,
    )
    .join(", ");
}

export function writeResultsMarkdown(projectDir: string, report: BenchReport): string {
  const { machine, args } = report;
  const misses = describeMisses(report.rows);
  const floor = describeMotoFloor(report.rows);
  const text = `# Benchmark results

Written by \`npm run bench -- --write\`; see [README.md](README.md) for what each scenario measures
and how the network is modelled. Compare only figures from the same run: every ratio is against
a baseline measured on the same machine, the same emulator, the same fixtures and the same
network proxy, minutes apart.

- Date: ${report.date}
- Machine: ${machine.cpus} × ${machine.model}, ${machine.memoryGb} GB memory, ${machine.os}; 1-min load average during the run: ${report.load.start} at the start, mean ${report.load.mean}, max ${report.load.max} (other work on the machine slows moto and both sides)
- Node: ${machine.node}
- Columns: ${describeColumns(args)}; a new connection pays ${CONNECT_RTTS} round trips, \`Expect: 100-continue\` one more
- Runs: ${args.runs} measured on loopback after 1 warm-up (on loopback), ${args.shapedRuns} per shaped column; size \`${args.size}\`; whole run ${(report.durationMs / 1000).toFixed(0)} s
- Baselines: ${report.tools.join("; ")}
- Fixtures: ${report.fixtures.join("; ")}

${formatTable(report.rows)}

## Missed targets

${misses.length ? misses.map((line) => `- ${line}`).join("\n") : "None: every target met."}

## What moto bounds

moto is one Python process serving both sides; on 2 cores it takes ~3 ms per PUT (~330 PUTs/s),
so 2,000 uploads cost ~6 s of emulator time whatever the network: at 40 ms that is a floor for
both sides of fe-first and for the baseline of fe-rebuild-3 and fe-noop (which re-upload every
file). "moto busy" in the notes is the measured wall time during which moto had at least one
request of that side in hand. Rows where it is half or more of a side's figure — there the
emulator, not the network or the tool, sets the number, and real S3 (which serves requests in
parallel) would be faster for that side:

${floor.length ? floor.map((line) => `- ${line}`).join("\n") : "- none in this run"}
`;
  const path = join(projectDir, "bench/RESULTS.md");
  writeFileSync(path, text);
  return path;
}
