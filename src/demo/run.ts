#!/usr/bin/env node
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createAwsClients } from "../aws/clients.js";
import { EXPECTED_TABLES } from "../config/defaults.js";
import { startMotoServer } from "../emulator/moto.js";
import { startHealthServer } from "./health-server.js";
import { writeSampleApp } from "./sample-app.js";
import { seedWorld, type WorldNames } from "./world.js";

/**
 * The one-command demo: a local AWS emulator seeded like VyapaarAI's prod, a sample app
 * repo, and the /deploy backend + frontend flow driven through the real stdio MCP server,
 * exactly as Claude Code would (plan → confirmation token → confirmed call → health).
 * It never talks to a real AWS account: every client points at the emulator.
 */
const SERVER = resolve(dirname(fileURLToPath(import.meta.url)), "../main.js");

const NAMES: WorldNames = {
  env: "prod",
  functionName: "vyaparai-api-prod",
  artifactBucket: "vyaparai-lambda-deployments",
  artifactPrefix: "backend/",
  siteBucket: "www.vyapaarai.com",
  tablePrefix: "vyaparai-",
  tableSuffix: "-prod",
  // All but one, so list_tables has a missing table to report.
  tables: EXPECTED_TABLES.filter((table) => table !== "translation-cache"),
};

type Structured = Record<string, unknown> & { summary?: string; status?: string };

function print(line = ""): void {
  process.stdout.write(`${line}\n`);
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

async function main(): Promise<number> {
  const started = performance.now();
  // Safety: the demo must never reach a real account, whatever the user's shell has.
  for (const key of Object.keys(process.env)) if (key.startsWith("AWS_")) delete process.env[key];
  Object.assign(process.env, EMULATOR_ENV);
  print(
    "vyaparai-deploy demo: a local AWS emulator (moto) seeded like VyapaarAI prod; no real AWS account is used.\n",
  );
  const moto = await startMotoServer();
  const health = await startHealthServer();
  const appRoot = mkdtempSync(join(tmpdir(), "vyaparai-demo-app-"));
  let client: Client | undefined;
  const cleanup = async () => {
    await client?.close().catch(() => {});
    await health.close();
    await moto.stop();
    rmSync(appRoot, { recursive: true, force: true });
  };
  process.once("SIGINT", () => {
    void cleanup().then(() => process.exit(130));
  });
  try {
    const aws = createAwsClients({ region: "ap-south-1", endpoint: moto.endpoint });
    const world = await seedWorld(aws, NAMES, moto.endpoint);
    aws.destroy();
    print(
      `emulator   ${moto.endpoint} (function ${NAMES.functionName}, buckets, CloudFront ${world.distributionId}, ${NAMES.tables.length} tables, logs)`,
    );
    writeSampleApp({
      root: appRoot,
      config: {
        environments: {
          prod: {
            frontend: { distributionId: world.distributionId, url: null },
            health: [{ name: "api", url: health.url, expectStatus: 200, expectJson: { status: "ok" } }],
          },
        },
      },
    });
    print(`sample app ${appRoot}\n`);
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [SERVER],
      cwd: appRoot,
      env: {
        ...(process.env as Record<string, string>),
        ...EMULATOR_ENV,
        AWS_ENDPOINT_URL: moto.endpoint,
      },
      stderr: "pipe",
    });
    client = new Client({ name: "vyaparai-deploy-demo", version: "0.1.0" });
    await client.connect(transport);
    const { tools } = await client.listTools();
    print(`MCP server ${tools.length} tools: ${tools.map((t) => t.name).join(", ")}\n`);

    const call = async (name: string, args: Record<string, unknown>): Promise<Structured> => {
      const t0 = performance.now();
      const result = await (client as Client).callTool({ name, arguments: args }, undefined, {
        timeout: 600_000,
      });
      const structured = (result.structuredContent ?? {}) as Structured;
      const ms = Math.round(performance.now() - t0);
      const shown = JSON.stringify(args).replace(/"(v1\.[^".]{6})[^"]*"/g, '"$1…"');
      print(`${result.isError ? "✗" : "✓"} ${name}(${shown}) ${ms} ms`);
      print(
        `    ${String(structured.summary ?? (result.content as Array<{ text: string }>)[0]?.text ?? "")}`,
      );
      if (result.isError) throw new Error(`${name} failed: ${structured.summary ?? "see above"}`);
      return structured;
    };
    const confirmed = async (name: string, args: Record<string, unknown>): Promise<Structured> => {
      const first = await call(name, args);
      if (first.status !== "confirmation_required") return first;
      print(
        "    → prod is protected: a person reviews the plan above and approves (auto-approved in this demo)",
      );
      return call(name, { ...args, confirmationToken: first.confirmationToken });
    };

    print("— /deploy all --env prod —");
    await call("list_tables", { env: "prod" });
    await call("deploy_status", { env: "prod" });
    const preflight = await call("preflight", { env: "prod", components: ["backend", "frontend"] });
    if (preflight.ok !== true) throw new Error("preflight did not pass");
    const lambda = await confirmed("deploy_lambda", { env: "prod" });
    const frontend = await confirmed("deploy_frontend", { env: "prod" });
    const healthReport = await call("health_check", { env: "prod" });
    await call("tail_logs", { env: "prod", since: "1h" });
    await call("deploy_status", { env: "prod" });
    print("\n— report —");
    print(
      `backend   ${lambda.status} version ${String(lambda.version ?? "-")} (was ${String(lambda.previousVersion ?? "-")}), release ${String(lambda.releaseId ?? "-")}`,
    );
    print(`frontend  ${frontend.status}, release ${String(frontend.releaseId ?? "-")}`);
    print(`health    ${String(healthReport.verdict)}`);
    print(`roll back rollback {"env":"prod","component":"lambda"} or {"env":"prod","component":"frontend"}`);
    print(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
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
