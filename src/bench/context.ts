import { appendFileSync } from "node:fs";
import type { AwsClients } from "../aws/clients.js";
import type { MotoServer } from "../emulator/moto.js";
import type { BenchArgs, ScenarioId } from "./args.js";
import type { Cleanup } from "./cleanup.js";
import { LOOPBACK, type NetworkProxy, type NetworkShape, type Traffic } from "./network-proxy.js";
import type { Prerequisites } from "./prerequisites.js";
import { measuredRow, type Row, type RowExtra, type Target, unavailableRow } from "./results.js";
import type { FixtureSizes } from "./sizes.js";

/** What every scenario gets: options, the emulator, the network, a scratch folder and the cleanup list. */
export interface BenchContext {
  args: BenchArgs;
  sizes: FixtureSizes;
  programs: Prerequisites;
  moto: MotoServer;
  /** Every AWS request of both sides goes through it; scenarios set its shape per column. */
  proxy: NetworkProxy;
  cleanup: Cleanup;
  /** Scratch folder of this run, removed at the end. */
  workDir: string;
  /** Env for every child process: the proxy in front of the emulator and dummy credentials only. */
  env: Record<string, string>;
  /** The product's client factory, pointed at moto itself (fixtures and read-back, never shaped). */
  clients: AwsClients;
  /** Fixture descriptions for the report. */
  fixtures: string[];
  /** Figures one scenario hands to another in the same run (the seed script's time per column). */
  shared: Map<string, number>;
  log(message: string): void;
}

/** One scenario may produce several rows (fe-first also yields rss), one per column each. */
export interface Scenario {
  ids: ScenarioId[];
  /** Only measured on loopback (no AWS traffic: start-up, the zip). */
  loopbackOnly?: boolean;
  /**
   * Runs against an emulator that holds nothing from earlier scenarios. moto slows as its heap
   * grows: after the 48,000 uploads and deletes of fe-first it lists a bucket ~40% slower, which
   * would make a scenario's figures depend on what ran before it.
   */
  freshEmulator?: boolean;
  run(ctx: BenchContext): Promise<Row[]>;
}

type ColumnTargets = { [column: string]: Target | undefined };

/**
 * Unit and targets of every row by column. Shaped targets are the (ratios through the
 * proxy, both sides in one run); the loopback ratios of the earlier issue stay where the new
 * one does not replace them. A column without a target gives an info row.
 */
export const TARGETS: Record<ScenarioId, { unit: Row["unit"]; targets: ColumnTargets; any?: Target }> = {
  startup: { unit: "ms", targets: { loopback: { kind: "ratio", max: 1.25 } } },
  "fe-first": {
    unit: "ms",
    targets: {
      loopback: { kind: "ratio", max: 1.0 },
      "40ms": { kind: "ratio", max: 0.6 },
      "100ms": { kind: "ratio", max: 0.33 },
    },
  },
  rss: { unit: "MB", targets: {}, any: { kind: "absolute", max: 160 } },
  "fe-rebuild-3": {
    unit: "ms",
    targets: { loopback: { kind: "ratio", max: 0.1 }, "100ms": { kind: "ratio", max: 0.05 } },
  },
  "fe-noop": {
    unit: "ms",
    targets: { loopback: { kind: "ratio", max: 0.1 }, "100ms": { kind: "ratio", max: 0.05 } },
  },
  zip: { unit: "ms", targets: { loopback: { kind: "ratio", max: 1.0 } } },
  "be-first": { unit: "ms", targets: { "40ms": { kind: "ratio", max: 0.8 } } },
  "lambda-noop": {
    unit: "ms",
    targets: { loopback: { kind: "absolute", max: 2_000 }, "40ms": { kind: "absolute", max: 1_000 } },
  },
  "logs-10k": { unit: "ms", targets: { loopback: { kind: "ratio", max: 1.5 } } },
};

export function targetFor(id: ScenarioId, column: string): Target | null {
  return TARGETS[id].targets[column] ?? TARGETS[id].any ?? null;
}

/** The columns a scenario produces rows for. */
export function columnsOf(
  ctx: Pick<BenchContext, "args">,
  scenario: Pick<Scenario, "loopbackOnly">,
): NetworkShape[] {
  return scenario.loopbackOnly ? [LOOPBACK] : ctx.args.shapes;
}

export function rowFor(
  id: ScenarioId,
  column: string,
  runs: { ours: number[]; baseline: number[] },
  extra: RowExtra = {},
): Row {
  return measuredRow(id, column, TARGETS[id].unit, targetFor(id, column), runs, extra);
}

export function errorRow(id: ScenarioId, column: string, why: string): Row {
  return unavailableRow(id, column, TARGETS[id].unit, targetFor(id, column), why);
}

/** Total iterations on loopback: one warm-up, then the measured runs. */
export function iterations(ctx: BenchContext): number {
  return ctx.args.runs + 1;
}

export interface RunInfo {
  column: NetworkShape;
  /** 0 for the warm-up, then 1.. within the column. */
  index: number;
  warmUp: boolean;
  /** The column's last run: sample what is sampled once per column. */
  last: boolean;
  label: string;
}

/**
 * The run plan of a network scenario: one warm-up on loopback (not measured), then each
 * column in turn with the proxy set to its shape — `--runs` runs on loopback, `--shaped-runs`
 * through each shaped column. A column that throws is recorded and the next one still runs.
 */
export async function eachRun(
  ctx: BenchContext,
  name: string,
  body: (run: RunInfo) => Promise<void>,
): Promise<Map<string, string>> {
  const failed = new Map<string, string>();
  ctx.proxy.setShape(LOOPBACK);
  await body({ column: LOOPBACK, index: 0, warmUp: true, last: false, label: "warm-up" });
  for (const column of ctx.args.shapes) {
    ctx.proxy.setShape(column);
    const runs = column.rttMs === 0 ? ctx.args.runs : ctx.args.shapedRuns;
    try {
      for (let index = 1; index <= runs; index++)
        await body({
          column,
          index,
          warmUp: false,
          last: index === runs,
          label: `${column.id} run ${index}`,
        });
    } catch (error) {
      const message = ((error as Error).message ?? String(error)).split("\n")[0] as string;
      ctx.log(`${name} ${column.id} failed: ${message}`);
      failed.set(column.id, `error: ${message}`);
    }
  }
  ctx.proxy.setShape(LOOPBACK);
  return failed;
}

/** The raw figures of one column of one row, collected run by run. */
export class Series {
  readonly runs = { ours: [] as number[], baseline: [] as number[] };
  readonly requests = { ours: [] as number[], baseline: [] as number[] };
  readonly motoBusyMs = { ours: [] as number[], baseline: [] as number[] };
  peakRssMb: number | null = null;

  add(side: "ours" | "baseline", ms: number, traffic: Traffic | null): void {
    this.runs[side].push(ms);
    if (traffic) {
      this.requests[side].push(traffic.requests);
      this.motoBusyMs[side].push(traffic.motoBusyMs);
    }
  }

  rss(mb: number | null): void {
    if (mb !== null) this.peakRssMb = Math.max(this.peakRssMb ?? 0, mb);
  }

  extra(more: Omit<RowExtra, "requests" | "motoBusyMs" | "peakRssMb"> = {}): RowExtra {
    return { ...more, requests: this.requests, motoBusyMs: this.motoBusyMs, peakRssMb: this.peakRssMb };
  }
}

/** One Series per column, made on first use. */
export class SeriesByColumn {
  private readonly map = new Map<string, Series>();
  of(column: string): Series {
    let series = this.map.get(column);
    if (!series) {
      series = new Series();
      this.map.set(column, series);
    }
    return series;
  }
}

/** Times `work` with a proxy window around it: the side's wall time and its AWS traffic. */
export async function measured<T>(
  ctx: BenchContext,
  work: () => Promise<T>,
): Promise<{ ms: number; value: T; traffic: Traffic }> {
  const window = ctx.proxy.window();
  const started = performance.now();
  const value = await work();
  const ms = performance.now() - started;
  const traffic = window.end();
  if (ctx.args.trace) appendTrace(ctx.args.trace, { column: ctx.proxy.shape().id, ms, started, traffic });
  return { ms, value, traffic };
}

/** One measured window as a line of the --trace file; times relative to the window's start. */
function appendTrace(
  file: string,
  run: { column: string; ms: number; started: number; traffic: Traffic },
): void {
  const at = (t: number) => Math.round((t - run.started) * 10) / 10;
  const requests = run.traffic.records.map((r) => ({
    line: r.line,
    arrived: at(r.arrived),
    upstreamStart: at(r.upstreamStart),
    upstreamEnd: at(r.upstreamEnd),
    newConnection: r.newConnection,
    expectContinue: r.expectContinue,
    bytesUp: r.bytesUp,
  }));
  appendFileSync(file, `${JSON.stringify({ column: run.column, ms: Math.round(run.ms), requests })}\n`);
}

export const seconds = (ms: number | null) => (ms === null ? "—" : `${(ms / 1000).toFixed(1)} s`);
