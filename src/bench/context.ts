import type { AwsClients } from "../aws/clients.js";
import type { MotoServer } from "../emulator/moto.js";
import type { BenchArgs, ScenarioId } from "./args.js";
import type { Cleanup } from "./cleanup.js";
import type { Prerequisites } from "./prerequisites.js";
import type { Row, Target } from "./results.js";
import type { FixtureSizes } from "./sizes.js";

/** What every scenario gets: options, the emulator, a scratch folder and the cleanup list. */
export interface BenchContext {
  args: BenchArgs;
  sizes: FixtureSizes;
  programs: Prerequisites;
  moto: MotoServer;
  cleanup: Cleanup;
  /** Scratch folder of this run, removed at the end. */
  workDir: string;
  /** Env for every child process: the emulator and dummy credentials only. */
  env: Record<string, string>;
  /** The product's client factory, pointed at the emulator (for fixtures and read-back). */
  clients: AwsClients;
  /** Fixture descriptions for the report. */
  fixtures: string[];
  log(message: string): void;
}

/** One scenario may produce several rows (fe-first also yields rss). */
export interface Scenario {
  ids: ScenarioId[];
  run(ctx: BenchContext): Promise<Row[]>;
}

/** Unit and target of every row, also used when a scenario cannot produce a number. */
export const TARGETS: Record<ScenarioId, { unit: Row["unit"]; target: Target }> = {
  startup: { unit: "ms", target: { kind: "ratio", max: 1.5 } },
  "fe-first": { unit: "ms", target: { kind: "ratio", max: 1.0 } },
  "fe-rebuild-1": { unit: "ms", target: { kind: "ratio", max: 0.1 } },
  "fe-noop": { unit: "ms", target: { kind: "ratio", max: 0.1 } },
  zip: { unit: "ms", target: { kind: "ratio", max: 1.0 } },
  "lambda-noop": { unit: "ms", target: { kind: "absolute", max: 2_000 } },
  "logs-10k": { unit: "ms", target: { kind: "ratio", max: 1.5 } },
  rss: { unit: "MB", target: { kind: "absolute", max: 200 } },
};

/** Total iterations: one warm-up, then the measured runs. */
export function iterations(ctx: BenchContext): number {
  return ctx.args.runs + 1;
}
