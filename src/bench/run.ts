#!/usr/bin/env node
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createAwsClients } from "../aws/clients.js";
import { type BenchArgs, parseBenchArgs, UsageError } from "./args.js";
import { benchEnv } from "./child-env.js";
import { Cleanup } from "./cleanup.js";
import { type BenchContext, type Scenario, TARGETS } from "./context.js";
import { OUR_SERVER } from "./mcp-session.js";
import { startBenchMoto } from "./moto.js";
import { findPrerequisites, MissingPrerequisiteError } from "./prerequisites.js";
import { describeMachine, formatTable, writeRawResults, writeResultsMarkdown } from "./report.js";
import { passes, type Row, unavailableRow } from "./results.js";
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
  lambdaNoopScenario,
  logsScenario,
];

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function runScenarios(args: BenchArgs, cleanup: Cleanup): Promise<{ rows: Row[]; fixtures: string[] }> {
  const programs = findPrerequisites(PROJECT_DIR);
  if (!existsSync(OUR_SERVER))
    throw new MissingPrerequisiteError(`${OUR_SERVER} is missing: run npm run build first.`);
  const workDir = mkdtempSync(join(tmpdir(), "vyaparai-bench-"));
  cleanup.add(() => rmSync(workDir, { recursive: true, force: true }));
  const moto = await startBenchMoto(programs.motoServer, cleanup);
  log(`moto_server on ${moto.endpoint}; scratch ${workDir}`);
  const clients = createAwsClients({ region: "ap-south-1", endpoint: moto.endpoint });
  cleanup.add(() => clients.destroy());
  const env = benchEnv(moto.endpoint);
  // Safety: the fixture clients of this process get the same dummy-credential env as the
  // children; no profile or key of this machine is ever read.
  for (const key of Object.keys(process.env)) if (key.startsWith("AWS_")) delete process.env[key];
  for (const [key, value] of Object.entries(env)) if (key.startsWith("AWS_")) process.env[key] = value;
  const ctx: BenchContext = {
    args,
    sizes: fixtureSizes(args.size),
    programs,
    moto,
    cleanup,
    workDir,
    env,
    clients,
    fixtures: [],
    log,
  };
  const rows: Row[] = [];
  for (const scenario of SCENARIOS) {
    if (!scenario.ids.some((id) => args.only.includes(id))) continue;
    log(`${scenario.ids.join(" + ")}: ${args.runs} runs after 1 warm-up`);
    try {
      rows.push(...(await scenario.run(ctx)));
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      log(`${scenario.ids.join(" + ")} failed: ${message}`);
      for (const id of scenario.ids)
        rows.push(
          unavailableRow(id, TARGETS[id].unit, TARGETS[id].target, `error: ${message.split("\n")[0]}`),
        );
    }
  }
  return { rows, fixtures: ctx.fixtures };
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
  try {
    const { rows, fixtures } = await runScenarios(args, cleanup);
    const report = {
      date,
      machine: describeMachine(),
      args,
      fixtures,
      rows,
      durationMs: performance.now() - started,
    };
    process.stdout.write(`\n${formatTable(rows)}\n\n`);
    for (const fixture of fixtures) process.stdout.write(`- ${fixture}\n`);
    log(`raw runs: ${writeRawResults(PROJECT_DIR, report)}`);
    if (args.write) log(`table written to ${writeResultsMarkdown(PROJECT_DIR, report)}`);
    const failed = rows.filter((row) => !passes(row));
    log(
      failed.length === 0
        ? `every target met (${((performance.now() - started) / 1000).toFixed(0)} s)`
        : `${failed.length} of ${rows.length} targets missed: ${failed.map((row) => row.id).join(", ")}`,
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
