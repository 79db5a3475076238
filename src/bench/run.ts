#!/usr/bin/env node
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createAwsClients } from "../aws/clients.js";
import { type BenchArgs, parseBenchArgs, SCENARIO_IDS, UsageError } from "./args.js";
import { benchEnv } from "./child-env.js";
import { Cleanup } from "./cleanup.js";
import { type BenchContext, columnsOf, errorRow, type Scenario } from "./context.js";
import { OUR_SERVER } from "./mcp-session.js";
import { startBenchMoto } from "./moto.js";
import { startNetworkProxy } from "./network-proxy.js";
import {
  findAwsV2,
  findPrerequisites,
  MissingPrerequisiteError,
  type Prerequisites,
} from "./prerequisites.js";
import {
  describeColumns,
  describeMachine,
  describeMisses,
  describeMotoFloor,
  formatTable,
  sampleLoad,
  writeRawResults,
  writeResultsMarkdown,
} from "./report.js";
import { passes, type Row } from "./results.js";
import { backendFirstScenario } from "./scenarios/backend-first.js";
import { feFirstScenario, feRebuildScenario } from "./scenarios/frontend.js";
import { lambdaNoopScenario } from "./scenarios/lambda-noop.js";
import { logsScenario } from "./scenarios/logs.js";
import { startupScenario } from "./scenarios/startup.js";
import { zipScenario } from "./scenarios/zip.js";
import { fixtureSizes } from "./sizes.js";

/** dist/bench/run.js → the project root. */
const PROJECT_DIR = resolve(import.meta.dirname, "../..");

const SCENARIOS: Scenario[] = [
  startupScenario,
  feFirstScenario,
  feRebuildScenario,
  zipScenario,
  backendFirstScenario,
  lambdaNoopScenario,
  logsScenario,
];

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

function versionOf(program: string): string {
  try {
    return execFileSync(program, ["--version"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", AWS_CONFIG_FILE: "/dev/null" },
      stdio: ["ignore", "pipe", "pipe"],
    })
      .trim()
      .split("\n")[0] as string;
  } catch {
    return "version unknown";
  }
}

function describeTools(programs: Prerequisites, args: BenchArgs): string[] {
  const tools = [`aws ${versionOf(programs.aws).split(" ")[0]} (${programs.aws})`];
  if (args.only.includes("logs-10k")) {
    const v2 = findAwsV2(programs.aws);
    tools.push(
      v2
        ? `aws logs tail: ${versionOf(v2).split(" ")[0]} (${v2})`
        : "aws logs tail: no aws CLI v2 here, so filter-log-events of v1 (the calls tail makes)",
    );
  }
  tools.push(`zip ${/Zip (\S+)/.exec(execFileSync(programs.zip, ["-v"], { encoding: "utf8" }))?.[1] ?? ""}`);
  return tools;
}

async function runScenarios(
  args: BenchArgs,
  cleanup: Cleanup,
): Promise<{ rows: Row[]; fixtures: string[]; tools: string[] }> {
  const programs = findPrerequisites(PROJECT_DIR);
  if (!existsSync(OUR_SERVER))
    throw new MissingPrerequisiteError(`${OUR_SERVER} is missing: run npm run build first.`);
  const workDir = mkdtempSync(join(tmpdir(), "vyaparai-bench-"));
  cleanup.add(() => rmSync(workDir, { recursive: true, force: true }));
  const moto = await startBenchMoto(programs.motoServer, cleanup);
  log(`moto_server on ${moto.endpoint}; scratch ${workDir}`);
  const proxy = await startNetworkProxy(moto.endpoint, cleanup);
  log(`network proxy on ${proxy.endpoint}; columns: ${describeColumns(args)}`);
  const clients = createAwsClients({ region: "ap-south-1", endpoint: moto.endpoint });
  cleanup.add(() => clients.destroy());
  // Both sides reach AWS only through the proxy: our server by AWS_ENDPOINT_URL, the aws CLI
  // by the same and an explicit --endpoint-url. Fixtures and read-back go to moto directly.
  const env = benchEnv(proxy.endpoint, workDir);
  // Safety: the fixture clients of this process get the same dummy-credential env as the
  // children; no profile or key of this machine is ever read.
  for (const key of Object.keys(process.env)) if (key.startsWith("AWS_")) delete process.env[key];
  for (const [key, value] of Object.entries(env)) if (key.startsWith("AWS_")) process.env[key] = value;
  const ctx: BenchContext = {
    args,
    sizes: fixtureSizes(args.size),
    programs,
    moto,
    proxy,
    cleanup,
    workDir,
    env,
    clients,
    fixtures: [],
    shared: new Map(),
    log,
  };
  const rows: Row[] = [];
  let emulatorUsed = false;
  for (const scenario of SCENARIOS) {
    if (!scenario.ids.some((id) => args.only.includes(id))) continue;
    if (scenario.freshEmulator && emulatorUsed) await freshEmulator(ctx);
    if (!scenario.loopbackOnly) emulatorUsed = true;
    log(
      `${scenario.ids.join(" + ")}: ${columnsOf(ctx, scenario)
        .map((column) => `${column.id} ${column.rttMs === 0 ? args.runs : args.shapedRuns} runs`)
        .join(", ")} after 1 warm-up`,
    );
    const scenarioStarted = performance.now();
    try {
      rows.push(...(await scenario.run(ctx)));
      log(
        `${scenario.ids.join(" + ")} done in ${((performance.now() - scenarioStarted) / 1000).toFixed(0)} s`,
      );
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      log(`${scenario.ids.join(" + ")} failed: ${message}`);
      for (const column of columnsOf(ctx, scenario))
        for (const id of scenario.ids) rows.push(errorRow(id, column.id, `error: ${message.split("\n")[0]}`));
    }
  }
  // One block per scenario id, its columns in run order (loopback, then by round trip).
  const columnOrder = (column: string) => {
    const index = args.shapes.findIndex((shape) => shape.id === column);
    return index < 0 ? -1 : index;
  };
  rows.sort(
    (a, b) =>
      SCENARIO_IDS.indexOf(a.id) - SCENARIO_IDS.indexOf(b.id) ||
      columnOrder(a.column) - columnOrder(b.column),
  );
  return { rows, fixtures: ctx.fixtures, tools: describeTools(programs, args) };
}

/** A new moto behind the same proxy, and fixture clients pointed at it; the old one stops. */
async function freshEmulator(ctx: BenchContext): Promise<void> {
  const previous = { moto: ctx.moto, clients: ctx.clients };
  ctx.moto = await startBenchMoto(ctx.programs.motoServer, ctx.cleanup);
  ctx.proxy.retarget(ctx.moto.endpoint);
  ctx.clients = createAwsClients({ region: "ap-south-1", endpoint: ctx.moto.endpoint });
  const clients = ctx.clients;
  ctx.cleanup.add(() => clients.destroy());
  previous.clients.destroy();
  await previous.moto.stop();
  log(`moto_server restarted on ${ctx.moto.endpoint} (a fresh emulator for the next scenario)`);
}

async function main(): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const cleanup = new Cleanup();
  const stopOnSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping moto and every server this run started`);
    void cleanup.runAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  process.once("exit", () => cleanup.killAllNow());

  const started = performance.now();
  const date = new Date().toISOString();
  const machine = describeMachine();
  const load = sampleLoad();
  try {
    const { rows, fixtures, tools } = await runScenarios(args, cleanup);
    const report = {
      date,
      machine,
      args,
      tools,
      fixtures,
      rows,
      durationMs: performance.now() - started,
      load: load.stop(),
    };
    process.stdout.write(`\n${formatTable(rows)}\n\n`);
    for (const fixture of fixtures) process.stdout.write(`- ${fixture}\n`);
    process.stdout.write(`- baselines: ${tools.join("; ")}\n`);
    process.stdout.write(
      `- 1-min load average: ${report.load.start} at the start, mean ${report.load.mean}, max ${report.load.max}\n`,
    );
    const misses = describeMisses(rows);
    if (misses.length) process.stdout.write(`\nMissed targets:\n${misses.map((m) => `- ${m}`).join("\n")}\n`);
    const floor = describeMotoFloor(rows);
    if (floor.length)
      process.stdout.write(
        `\nBounded by moto (≥ 50% of the figure):\n${floor.map((m) => `- ${m}`).join("\n")}\n`,
      );
    log(`raw runs: ${writeRawResults(PROJECT_DIR, report)}`);
    if (args.write) log(`table written to ${writeResultsMarkdown(PROJECT_DIR, report)}`);
    const failed = rows.filter((row) => !passes(row));
    log(
      failed.length === 0
        ? `every target met (${((performance.now() - started) / 1000).toFixed(0)} s)`
        : `${failed.length} of ${rows.length} rows missed their targets: ${failed.map((row) => `${row.id}@${row.column}`).join(", ")}`,
    );
    return failed.length === 0 ? 0 : 1;
  } catch (error) {
    if (error instanceof MissingPrerequisiteError) {
      process.stderr.write(`bench: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`bench: failed: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  } finally {
    await cleanup.runAll();
  }
}

process.exitCode = await main();
