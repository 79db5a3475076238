#!/usr/bin/env node
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createAwsClients } from "../aws/clients.js";
import { EXPECTED_TABLES } from "../config/defaults.js";
import { startMotoServer } from "../emulator/moto.js";
import { deployAll } from "./deploy-all.js";
import { startHealthServer } from "./health-server.js";
import { verifyRollbackLines } from "./rollback-lines.js";
import { commitAll, writeBackend, writeFrontend, writeSampleApp, writeTerraform } from "./sample-app.js";
import { type DemoSession, openSession, print, type Structured } from "./session.js";
import { emulatorTerraformBackend, seedWorld, type WorldNames } from "./world.js";

/**
 * The one-command demo: a local AWS emulator seeded like VyapaarAI's prod, a sample app repo
 * whose release 1.0.0 is live (deployed earlier with these tools, so there is a release to roll
 * back to), and `/deploy all --env prod` for release 1.1.0 driven through the real stdio MCP
 * server exactly as .claude/commands/deploy.md lays it out. It never talks to a real AWS
 * account: every client points at the emulator.
 *
 *   --verify-rollback  (or VYAPARAI_DEMO_VERIFY_ROLLBACK=1) before the emulator stops, run each
 *                      rollback line the report printed through the built CLI and read back
 *                      what serves; exit 1 if one does not work.
 *   --apply            /deploy all --apply: release 1.1.0 also changes the infrastructure.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
const SERVER = resolve(HERE, "../main.js");
const CLI = resolve(HERE, "../cli.js");

const ENV = "prod";
const NAMES: WorldNames = {
  env: ENV,
  functionName: "vyaparai-api-prod",
  artifactBucket: "vyaparai-lambda-deployments",
  artifactPrefix: "backend/",
  siteBucket: "www.vyapaarai.com",
  tablePrefix: "vyaparai-",
  tableSuffix: "-prod",
  // All but one, so list_tables has a missing table to report.
  tables: EXPECTED_TABLES.filter((table) => table !== "translation-cache"),
  terraformStateBucket: "vyaparai-terraform-state",
};

const USAGE = `Usage: node dist/demo/run.js [--verify-rollback] [--apply]
  --verify-rollback  run each printed rollback line through the built CLI before the emulator
                     stops, and read back what serves (also VYAPARAI_DEMO_VERIFY_ROLLBACK=1)
  --apply            /deploy all --apply: the release also changes the infrastructure`;

interface DemoOptions {
  verifyRollback: boolean;
  apply: boolean;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): DemoOptions | string {
  const options: DemoOptions = {
    verifyRollback: ["1", "true"].includes(env.VYAPARAI_DEMO_VERIFY_ROLLBACK ?? ""),
    apply: false,
  };
  for (const arg of argv) {
    if (arg === "--verify-rollback") options.verifyRollback = true;
    else if (arg === "--apply") options.apply = true;
    else return arg === "--help" || arg === "-h" ? "" : `Unknown option ${arg}.`;
  }
  return options;
}

/** Credentials for the emulator only; the demo's processes never see the user's real ones. */
const EMULATOR_ENV: Record<string, string> = {
  AWS_ACCESS_KEY_ID: "demo",
  AWS_SECRET_ACCESS_KEY: "demo",
  AWS_REGION: "ap-south-1",
  AWS_CONFIG_FILE: "/dev/null",
  AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};

/** The user's own config, project, token secret and modes: none of them may steer the demo. */
const USER_SETTINGS = [
  "VYAPARAI_DEPLOY_CONFIG",
  "VYAPARAI_DEPLOY_SECRET",
  "VYAPARAI_DEPLOY_READ_ONLY",
  "CLAUDE_PROJECT_DIR",
];

/** A tool call whose protected-env confirmation is given at once: history, not the flow shown. */
async function confirmedQuietly(
  session: DemoSession,
  name: string,
  args: Record<string, unknown>,
): Promise<Structured> {
  const first = await session.call(name, args, { quiet: true });
  if (first.status !== "confirmation_required") return first;
  return session.call(name, { ...args, confirmationToken: first.confirmationToken }, { quiet: true });
}

/**
 * Release 1.0.0 as prod has it today: infra applied, Lambda and frontend deployed with these
 * tools (each with its preflight, plan and token), so deploy_status names the live releases and
 * the rollback lines of the new release have somewhere to go back to.
 */
async function deployEarlierRelease(session: DemoSession): Promise<void> {
  print(`— ${ENV} before this release: 1.0.0, deployed earlier with these tools —`);
  const [preflight, plan] = await Promise.all([
    session.call("preflight", { env: ENV, components: ["backend", "frontend"] }, { quiet: true }),
    session.call("terraform_plan", { env: ENV }, { quiet: true }),
  ]);
  if (preflight.ok !== true) throw new Error(`the 1.0.0 preflight failed: ${preflight.summary}`);
  const infra = await confirmedQuietly(session, "terraform_apply", {
    env: ENV,
    planDigest: plan.planDigest,
    ...(typeof plan.confirmationToken === "string" ? { confirmationToken: plan.confirmationToken } : {}),
  });
  const lambda = await confirmedQuietly(session, "deploy_lambda", { env: ENV });
  const frontend = await confirmedQuietly(session, "deploy_frontend", { env: ENV });
  for (const [what, answer, ok] of [
    ["infra", infra, "applied"],
    ["lambda", lambda, "deployed"],
    ["frontend", frontend, "deployed"],
  ] as const) {
    if (answer.status !== ok)
      throw new Error(`the 1.0.0 ${what} release ended ${answer.status}: ${answer.summary}`);
    print(`  ${what.padEnd(9)} 1.0.0 ${ok}, release ${answer.releaseId}`);
  }
}

async function main(): Promise<number> {
  const started = performance.now();
  const options = parseOptions(process.argv.slice(2), process.env);
  if (typeof options === "string") {
    process.stderr.write(`${options ? `${options}\n` : ""}${USAGE}\n`);
    return options ? 2 : 0;
  }
  // Safety: the demo must never reach a real account, whatever the user's shell has.
  for (const key of Object.keys(process.env)) if (key.startsWith("AWS_")) delete process.env[key];
  for (const key of USER_SETTINGS) delete process.env[key];
  Object.assign(process.env, EMULATOR_ENV);
  print(
    "vyaparai-deploy demo: a local AWS emulator (moto) seeded like VyapaarAI prod; no real AWS account is used.\n",
  );
  const root = mkdtempSync(join(tmpdir(), "vyaparai-demo-"));
  const appRoot = join(root, "app");
  // The token secret and saved terraform plans live in the demo's own folders, not the user's.
  const xdg = { XDG_CONFIG_HOME: join(root, "config"), XDG_STATE_HOME: join(root, "state") };
  for (const dir of Object.values(xdg)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const [moto, health] = await Promise.all([startMotoServer(), startHealthServer()]);
  let session: DemoSession | undefined;
  const cleanup = async () => {
    await session?.close();
    await health.close();
    await moto.stop();
    rmSync(root, { recursive: true, force: true });
  };
  process.once("SIGINT", () => {
    void cleanup().then(() => process.exit(130));
  });
  const aws = createAwsClients({ region: "ap-south-1", endpoint: moto.endpoint });
  try {
    const world = await seedWorld(aws, NAMES, moto.endpoint);
    print(
      `emulator   ${moto.endpoint} (function ${NAMES.functionName}, buckets, CloudFront ${world.distributionId}, ${NAMES.tables.length} tables, logs, terraform state bucket)`,
    );
    writeSampleApp({
      root: appRoot,
      config: {
        environments: {
          [ENV]: {
            frontend: { distributionId: world.distributionId, url: null },
            health: [{ name: "api", url: health.url, expectStatus: 200, expectJson: { status: "ok" } }],
            terraform: {
              backendConfig: emulatorTerraformBackend(
                moto.endpoint,
                NAMES.terraformStateBucket as string,
                `infrastructure/${ENV}.tfstate`,
              ),
            },
          },
        },
      },
    });
    print(`sample app ${appRoot}\n`);
    // What the server and the CLI run with: the emulator, and the demo's private folders.
    const childEnv: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...EMULATOR_ENV,
      ...xdg,
      AWS_ENDPOINT_URL: moto.endpoint,
    };
    session = await openSession({ server: SERVER, cwd: appRoot, env: childEnv });
    print(`MCP server ${session.toolNames.length} tools: ${session.toolNames.join(", ")}\n`);

    await deployEarlierRelease(session);
    writeBackend(appRoot, "1.1.0");
    writeFrontend(appRoot, "1.1.0");
    if (options.apply) writeTerraform(appRoot, 1536);
    const sha = commitAll(appRoot, "Release 1.1.0");
    print(
      `  new commit ${sha.slice(0, 12)}: API 1.1.0, PWA 1.1.0${options.apply ? ", API memory 1024 → 1536 MB (terraform)" : ""}\n`,
    );

    const result = await deployAll(session, { env: ENV, apply: options.apply });
    let code = result.code;
    if (options.verifyRollback && result.rollbackLines.length > 0) {
      print("\n— --verify-rollback: each line above, run here through the built CLI against the emulator —");
      const ok = await verifyRollbackLines(
        {
          cli: CLI,
          cwd: appRoot,
          env: childEnv,
          aws,
          functionName: NAMES.functionName,
          alias: null,
          siteBucket: NAMES.siteBucket,
        },
        result.rollbackLines,
      );
      if (!ok) code = 1;
    }
    print(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return code;
  } finally {
    aws.destroy();
    await cleanup();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`\ndemo failed: ${(error as Error)?.message ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
