import type { NetworkShape } from "./network-proxy.js";

/** Command-line options of `npm run bench`. */
export type BenchSize = "small" | "full";

export const SCENARIO_IDS = [
  "startup",
  "fe-first",
  "rss",
  "fe-rebuild-3",
  "fe-noop",
  "zip",
  "be-first",
  "lambda-noop",
  "logs-10k",
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** Earlier names still accepted by --only. */
const ALIASES: Record<string, ScenarioId> = { "fe-rebuild-1": "fe-rebuild-3" };

export interface BenchArgs {
  only: ScenarioId[];
  runs: number;
  /** Measured runs per shaped column (the warm-up is shared, on loopback). */
  shapedRuns: number;
  size: BenchSize;
  /** The columns, in the order they run: loopback first, then by round trip. */
  shapes: NetworkShape[];
  bandwidthMbit: number;
  write: boolean;
  /** Also append every measured window's request log to this file (JSON lines); null: none. */
  trace: string | null;
}

export const USAGE = `Usage: npm run bench -- [--only ${SCENARIO_IDS.join(",")}] [--runs N] [--shaped-runs N]
                       [--shape loopback,40,100] [--bandwidth-mbit 40] [--size small|full] [--write]
                       [--trace FILE]
  --only            scenarios to run (default: all)
  --runs            measured runs per scenario on loopback after one warm-up (default 5)
  --shaped-runs     measured runs per shaped column (default 3 but at most --runs; 1 with --size small)
  --shape           columns: loopback and/or round trips in ms through the shaping proxy
                    (default loopback,40,100; with --size small loopback,40)
  --bandwidth-mbit  upload cap of the shaped columns, shared by all connections (default 40)
  --size            fixture size: full (the issue's sizes) or small (a CI smoke run)
  --write           also write bench/RESULTS.md with the table, the machine and the date
  --trace           append each measured side's requests (arrival, moto's start and end, new
                    connection, 100-continue, bytes up) to FILE as JSON lines: the critical path`;

export class UsageError extends Error {}

/** "loopback" or a round trip in ms ("40", "40ms"). */
function parseShapeIds(text: string): Array<"loopback" | number> {
  const ids = text
    .split(",")
    .map((id) => id.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new UsageError(`--shape needs at least one column.\n${USAGE}`);
  return ids.map((id) => {
    if (id === "loopback") return id;
    const ms = Number(id.replace(/ms$/, ""));
    if (!Number.isFinite(ms) || ms <= 0 || ms > 2_000)
      throw new UsageError(`--shape: ${id} is neither loopback nor a round trip of 1–2000 ms.\n${USAGE}`);
    return ms;
  });
}

export function shapesOf(ids: Array<"loopback" | number>, bandwidthMbit: number): NetworkShape[] {
  const unique = [...new Set(ids)];
  const rtts = unique.filter((id): id is number => id !== "loopback").sort((a, b) => a - b);
  return [
    ...(unique.includes("loopback") ? [{ id: "loopback", rttMs: 0, bandwidthMbit: null }] : []),
    ...rtts.map((rttMs) => ({ id: `${rttMs}ms`, rttMs, bandwidthMbit })),
  ];
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = {
    only: [...SCENARIO_IDS],
    runs: 5,
    shapedRuns: 3,
    size: "full",
    shapes: [],
    bandwidthMbit: 40,
    write: false,
    trace: null,
  };
  let shapeIds: Array<"loopback" | number> | null = null;
  let shapedRuns: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] as string;
    const [flag, inline] = raw.startsWith("--") && raw.includes("=") ? raw.split(/=(.*)/s, 2) : [raw];
    const value = () => {
      const next = inline ?? argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value.\n${USAGE}`);
      return next;
    };
    const count = (name: string) => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1 || n > 100)
        throw new UsageError(`${name} must be a whole number from 1 to 100.\n${USAGE}`);
      return n;
    };
    switch (flag) {
      case "--only": {
        const ids = value()
          .split(",")
          .map((id) => id.trim())
          .filter(Boolean)
          .map((id) => ALIASES[id] ?? id);
        const unknown = ids.filter((id) => !(SCENARIO_IDS as readonly string[]).includes(id));
        if (unknown.length > 0 || ids.length === 0)
          throw new UsageError(`Unknown scenario ${unknown.join(", ") || "(none)"}.\n${USAGE}`);
        args.only = [...new Set(ids)] as ScenarioId[];
        break;
      }
      case "--runs":
        args.runs = count("--runs");
        break;
      case "--shaped-runs":
        shapedRuns = count("--shaped-runs");
        break;
      case "--shape":
        shapeIds = parseShapeIds(value());
        break;
      case "--bandwidth-mbit": {
        const mbit = Number(value());
        if (!Number.isFinite(mbit) || mbit <= 0 || mbit > 100_000)
          throw new UsageError(`--bandwidth-mbit must be a number above 0.\n${USAGE}`);
        args.bandwidthMbit = mbit;
        break;
      }
      case "--size": {
        const size = value();
        if (size !== "small" && size !== "full")
          throw new UsageError(`--size must be small or full.\n${USAGE}`);
        args.size = size;
        break;
      }
      case "--write":
        args.write = true;
        break;
      case "--trace":
        args.trace = value();
        break;
      case "--help":
      case "-h":
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`Unknown argument ${raw}.\n${USAGE}`);
    }
  }
  args.shapes = shapesOf(
    shapeIds ?? (args.size === "small" ? ["loopback", 40] : ["loopback", 40, 100]),
    args.bandwidthMbit,
  );
  // The CI smoke run checks that every column works, not its median: one run per shaped column.
  args.shapedRuns = shapedRuns ?? (args.size === "small" ? 1 : Math.min(3, args.runs));
  return args;
}
