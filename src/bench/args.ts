/** Command-line options of `npm run bench`. */
export type BenchSize = "small" | "full";

export const SCENARIO_IDS = [
  "startup",
  "fe-first",
  "fe-rebuild-1",
  "fe-noop",
  "zip",
  "lambda-noop",
  "logs-10k",
  "rss",
] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export interface BenchArgs {
  only: ScenarioId[];
  runs: number;
  size: BenchSize;
  write: boolean;
}

export const USAGE = `Usage: npm run bench -- [--only ${SCENARIO_IDS.join(",")}] [--runs N] [--size small|full] [--write]
  --only   scenarios to run (default: all)
  --runs   measured runs per scenario after one warm-up (default 5)
  --size   fixture size: full (the issue's sizes) or small (a CI smoke run)
  --write  also write bench/RESULTS.md with the table, the machine and the date`;

export class UsageError extends Error {}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { only: [...SCENARIO_IDS], runs: 5, size: "full", write: false };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] as string;
    const [flag, inline] = raw.startsWith("--") && raw.includes("=") ? raw.split(/=(.*)/s, 2) : [raw];
    const value = () => {
      const next = inline ?? argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value.\n${USAGE}`);
      return next;
    };
    switch (flag) {
      case "--only": {
        const ids = value()
          .split(",")
          .map((id) => id.trim())
          .filter(Boolean);
        const unknown = ids.filter((id) => !(SCENARIO_IDS as readonly string[]).includes(id));
        if (unknown.length > 0 || ids.length === 0)
          throw new UsageError(`Unknown scenario ${unknown.join(", ") || "(none)"}.\n${USAGE}`);
        args.only = ids as ScenarioId[];
        break;
      }
      case "--runs": {
        const runs = Number(value());
        if (!Number.isInteger(runs) || runs < 1 || runs > 100)
          throw new UsageError(`--runs must be a whole number from 1 to 100.\n${USAGE}`);
        args.runs = runs;
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
      case "--help":
      case "-h":
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`Unknown argument ${raw}.\n${USAGE}`);
    }
  }
  return args;
}
