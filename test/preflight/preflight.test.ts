import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { beforeAll, describe, expect, it } from "vitest";
import { createAwsClients } from "../../src/aws/clients.js";
import type { ToolContext } from "../../src/release/context.js";
import { findPassingPreflight } from "../../src/release/preflight-records.js";
import { invokeTool } from "../../src/server/invoke.js";
import { createMcpServer } from "../../src/server/mcp-server.js";
import { createRuntime, type Runtime } from "../../src/server/runtime.js";
import { preflightTool } from "../../src/tools/preflight.js";
import { createBucket, createSiteDistribution, createTestFunction } from "../support/aws-fixtures.js";
import { createGitRepo, type GitFixture } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { testRuntime, toolContextFor } from "../support/runtime.js";
import { check, type Report } from "./preflight-report.js";

const moto = useMoto();
const SHARED_SECRET = "secret-shared-by-the-server-and-the-cli";

const PASSING_PYTEST =
  "def test_orders():\n    assert 1 + 1 == 2\n\n\ndef test_stores():\n    assert 'a' in 'abc'\n";
const FAILING_PYTEST =
  "def test_orders():\n    assert 1 + 1 == 2\n\n\ndef test_khata():\n    assert 2 + 2 == 5\n";
const PASSING_NODE_TEST =
  'import test from "node:test";\nimport assert from "node:assert";\ntest("a", () => assert.ok(true));\ntest("b", () => assert.ok(true));\ntest("c", () => assert.ok(true));\n';

let counter = 0;
const unique = (what: string) => `pf-${what}-${process.pid}-${++counter}`;

/** AWS side of one env: function, artifact bucket, site bucket and distribution on moto. */
interface World {
  functionName: string;
  artifactBucket: string;
  siteBucket: string;
  distributionId: string;
}

async function createWorld(): Promise<World> {
  const aws = moto.current.clients();
  const world = {
    functionName: unique("api"),
    artifactBucket: unique("artifacts"),
    siteBucket: unique("site"),
    distributionId: "",
  };
  await createTestFunction(moto.current, await aws.lambda(), { name: world.functionName });
  await createBucket(await aws.s3(), world.artifactBucket);
  await createBucket(await aws.s3(), world.siteBucket);
  world.distributionId = await createSiteDistribution(await aws.cloudFront(), {
    callerReference: unique("dist"),
    comment: "preflight test",
    siteBucket: world.siteBucket,
  });
  return world;
}

interface AppOptions {
  pytest?: string;
  backendTestCommand?: string;
  frontendTestCommand?: string;
  extraFiles?: Record<string, string>;
  envOverrides?: Record<string, unknown>;
  /** Applied to dev only, after its own resource names. */
  devOverrides?: Record<string, unknown>;
  backendOverrides?: Record<string, unknown>;
}

/** A real git repo shaped like the app, with deploy.config.json committed; tree clean. */
function createApp(world: World, options: AppOptions = {}): { repo: GitFixture; runtime: Runtime } {
  const repo = createGitRepo({
    files: {
      ".gitignore": "__pycache__/\n.pytest_cache/\nnode_modules/\n",
      "backend/app/__init__.py": "",
      "backend/lambda_handler.py": "def handler(event, context):\n    return 1\n",
      "backend/lambda_deps/mangum/__init__.py": "",
      "backend/tests/test_app.py": options.pytest ?? PASSING_PYTEST,
      "frontend-pwa/app.test.mjs": PASSING_NODE_TEST,
      "infrastructure/terraform/main.tf": 'resource "terraform_data" "marker" {}\n',
      ...options.extraFiles,
    },
  });
  const envConfig = {
    accountId: "123456789012",
    lambda: { functionName: world.functionName, artifactBucket: world.artifactBucket },
    frontend: { buckets: [world.siteBucket], distributionId: world.distributionId, url: null },
    health: [],
    ...options.envOverrides,
  };
  const runtime = testRuntime({
    moto: moto.current,
    appRoot: repo.dir,
    secret: SHARED_SECRET,
    config: {
      // dev points at its own resources: one sharing prod's would be protected like prod.
      environments: {
        prod: envConfig,
        dev: {
          ...envConfig,
          lambda: { ...envConfig.lambda, functionName: `${world.functionName}-dev` },
          frontend: { buckets: [`${world.siteBucket}-dev`], distributionId: null, url: null },
          ...options.devOverrides,
        },
      },
      backend: {
        testCommand: options.backendTestCommand ?? "python3 -m pytest -q",
        ...options.backendOverrides,
      },
      frontend: { testCommand: options.frontendTestCommand ?? "node --test app.test.mjs" },
    },
  });
  repo.commitAll("app with deploy config");
  return { repo, runtime };
}

/** A ToolContext for calling the preflight store directly, as the deploy gate does. */
function storeContext(runtime: Runtime, envName: string): ToolContext {
  return toolContextFor(runtime, { envName });
}

describe("preflight against moto and real git repos", () => {
  let world: World;
  beforeAll(async () => {
    world = await createWorld();
  });

  it("passes on a clean repo with passing tests and existing resources, and unlocks the gate", async () => {
    const { repo, runtime } = createApp(world);
    const progress: string[] = [];
    const result = await invokeTool(preflightTool, { env: "prod" }, runtime, {
      progress: (message) => progress.push(message),
    });
    const report = result.structured as unknown as Report;
    expect(result.isError).toBe(false);
    expect(report.checks.filter((c) => c.status === "fail")).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.gitSha).toBe(repo.head());
    expect(report.components).toEqual(["backend", "frontend", "infra"]);
    expect(report.checks.map((c) => c.name)).toEqual([
      "config",
      "aws-identity",
      "region",
      "git",
      "tree:backend",
      "tests:backend",
      "tests:frontend",
      "binaries",
      "resources",
      "terraform-dir",
      "lock",
      "interrupted",
    ]);
    expect(check(report, "aws-identity")).toMatchObject({ status: "pass" });
    expect(check(report, "aws-identity").detail).toContain("123456789012");
    // The config file in use is named, as data.
    expect(check(report, "config")).toMatchObject({
      status: "pass",
      evidence: [expect.stringContaining("deploy.config.json")],
    });
    expect(check(report, "tests:backend")).toMatchObject({
      status: "pass",
      testCounts: { passed: 2, failed: 0, total: 2 },
    });
    expect(check(report, "tests:frontend")).toMatchObject({
      status: "pass",
      testCounts: { passed: 3, failed: 0, total: 3 },
    });
    expect(check(report, "binaries").detail).toMatch(/python3 .*node .*npm .*terraform/);
    expect(check(report, "resources").detail).toContain(`Lambda ${world.functionName}`);
    expect(check(report, "resources").detail).toContain(`CloudFront distribution ${world.distributionId}`);
    // moto creates no log group until the function logs: a warning, never a failure.
    expect(check(report, "resources")).toMatchObject({ status: "warn" });
    expect(check(report, "lock")).toMatchObject({ status: "pass" });
    expect(check(report, "interrupted")).toMatchObject({ status: "pass" });
    // No upstream in a fresh repo: a warning only.
    expect(check(report, "git")).toMatchObject({ status: "warn" });
    expect(report.summary).toContain("passed");
    expect(progress.some((m) => m.startsWith("tests:backend:"))).toBe(true);

    // The gate reads it back from .git/vyaparai-deploy/, also in a fresh process's runtime.
    const stored = JSON.parse(
      readFileSync(join(repo.dir, ".git", "vyaparai-deploy", "preflight-prod.json"), "utf8"),
    ).record;
    expect(stored).toMatchObject({
      preflightId: report.preflightId,
      gitSha: repo.head(),
      ok: true,
      clean: true,
    });
    // A CLI in another process trusts the file when it shares the server's secret.
    const fresh = createRuntime({
      loaded: runtime.loaded,
      env: { VYAPARAI_DEPLOY_SECRET: SHARED_SECRET },
      makeClients: (env) => createAwsClients({ region: env.region, endpoint: moto.current.endpoint }),
    });
    const passing = await findPassingPreflight(storeContext(fresh, "prod"), repo.head());
    expect(passing?.preflightId).toBe(report.preflightId);
    runtime.close();
    fresh.close();
  });

  it("fails on failing tests with parsed counts, the output tail and a remedy", async () => {
    const { repo, runtime } = createApp(world, { pytest: FAILING_PYTEST });
    const result = await invokeTool(preflightTool, { env: "prod", components: ["backend"] }, runtime);
    const report = result.structured as unknown as Report;
    expect(result.isError).toBe(false);
    expect(report.ok).toBe(false);
    const tests = check(report, "tests:backend");
    expect(tests.status).toBe("fail");
    expect(tests.testCounts).toMatchObject({ passed: 1, failed: 1, total: 2 });
    expect(tests.detail).toContain("1 failed, 1 passed");
    expect(tests.remedy).toMatch(/Fix the failing backend tests/);
    expect(tests.output).toContain("test_khata");
    // Test output stays in `output`: the detail and summary carry counts only.
    expect(tests.detail).not.toContain("test_khata");
    expect(report.summary).not.toContain("test_khata");
    expect(report.summary).toMatch(/First failure — tests:backend/);
    expect(report.checks.map((c) => c.name)).not.toContain("tests:frontend");
    const stored = JSON.parse(
      readFileSync(join(repo.dir, ".git", "vyaparai-deploy", "preflight-prod.json"), "utf8"),
    ).record;
    expect(stored).toMatchObject({ ok: false, gitSha: repo.head(), components: ["backend"] });
    expect(await findPassingPreflight(storeContext(runtime, "prod"), repo.head())).toBeNull();
    runtime.close();
  });

  it("fails on a dirty tree on prod, listing the files; warns on dev", async () => {
    const { repo, runtime } = createApp(world);
    repo.dirty("backend/app/scratch.py");
    const prod = (await invokeTool(preflightTool, { env: "prod", components: ["backend"] }, runtime))
      .structured as unknown as Report;
    expect(prod.ok).toBe(false);
    expect(check(prod, "git")).toMatchObject({ status: "fail" });
    expect(check(prod, "git").evidence).toContain("backend/app/scratch.py");
    expect(check(prod, "git").detail).toContain("1 uncommitted file(s) (listed in evidence)");
    expect(prod.summary).not.toContain("scratch.py");
    expect(check(prod, "git").remedy).toMatch(/Commit or stash/);
    expect(await findPassingPreflight(storeContext(runtime, "prod"), repo.head())).toBeNull();

    const dev = (await invokeTool(preflightTool, { env: "dev", components: ["backend"] }, runtime))
      .structured as unknown as Report;
    expect(check(dev, "git")).toMatchObject({ status: "warn" });
    // dev's own function and bucket do not exist in this world; nothing else fails.
    expect(dev.checks.filter((c) => c.status === "fail").map((c) => c.name)).toEqual(["resources"]);
    runtime.close();
  });

  it("fails on the wrong account, naming both ids", async () => {
    const { runtime } = createApp(world, { envOverrides: { accountId: "111122223333" } });
    const report = (await invokeTool(preflightTool, { env: "prod", components: ["infra"] }, runtime))
      .structured as unknown as Report;
    expect(report.ok).toBe(false);
    const identity = check(report, "aws-identity");
    expect(identity.status).toBe("fail");
    expect(identity.detail).toContain("123456789012");
    expect(identity.detail).toContain("111122223333");
    expect(identity.remedy).toContain("111122223333");
    runtime.close();
  });

  it("refuses skipTests on prod without running anything, and reports it as skipped on dev", async () => {
    const { repo, runtime } = createApp(world, {
      backendTestCommand: "touch ran.marker && python3 -m pytest -q",
    });
    const refused = await invokeTool(preflightTool, { env: "prod", skipTests: true }, runtime);
    expect(refused.isError).toBe(true);
    expect((refused.structured as unknown as Report).error?.code).toBe("REFUSED");
    expect(refused.text).toMatch(/skipTests is refused on protected env "prod"/);
    expect(existsSync(join(repo.dir, "backend", "ran.marker"))).toBe(false);
    expect(existsSync(join(repo.dir, ".git", "vyaparai-deploy", "preflight-prod.json"))).toBe(false);

    const dev = (await invokeTool(preflightTool, { env: "dev", skipTests: true }, runtime))
      .structured as unknown as Report;
    expect(check(dev, "tests:backend")).toMatchObject({ status: "warn" });
    expect(check(dev, "tests:backend").detail).toMatch(/Skipped/);
    expect(existsSync(join(repo.dir, "backend", "ran.marker"))).toBe(false);
    runtime.close();
  });

  it("never lets a secret printed by the tests reach the result or the progress messages", async () => {
    const printer = [
      'console.log("connecting with AKIAIOSFODNN7EXAMPLE");',
      'console.log("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");',
      'console.log("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.c2lnbmF0dXJlLXNlY3JldA");',
      'console.log("bare wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");',
    ].join("\n");
    const { runtime } = createApp(world, {
      extraFiles: { "backend/print_env.mjs": `${printer}\nprocess.exit(1);\n` },
      backendTestCommand: "node print_env.mjs",
    });
    const progress: string[] = [];
    const result = await invokeTool(preflightTool, { env: "dev", components: ["backend"] }, runtime, {
      progress: (message) => progress.push(message),
    });
    const everything = `${JSON.stringify(result.structured)}\n${result.text}\n${progress.join("\n")}`;
    expect(everything).toContain("connecting with"); // the output is there, minus the secrets
    for (const secret of [
      "AKIAIOSFODNN7EXAMPLE",
      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9",
    ]) {
      expect(everything).not.toContain(secret);
    }
    expect(check(result.structured as unknown as Report, "tests:backend").status).toBe("fail");
    runtime.close();
  });

  it("a live lock fails without naming its holder; an expired one and its interrupted release warn", async () => {
    // Its own artifact bucket: the lock and record planted here must not reach the other tests.
    const lockWorld = { ...world, artifactBucket: unique("artifacts") };
    const s3 = await moto.current.clients().s3();
    await createBucket(s3, lockWorld.artifactBucket);
    const { runtime } = createApp(lockWorld);
    const holder = "arn:aws:sts::123456789012:assumed-role/ci/runner-7";
    const releaseId = "20261125T130512345Z-3fa9c1";
    const now = Date.now();
    const put = (key: string, body: unknown) =>
      s3.send(
        new PutObjectCommand({
          Bucket: lockWorld.artifactBucket,
          Key: key,
          ContentType: "application/json",
          Body: JSON.stringify(body),
        }),
      );
    // The body src/release/lock.ts writes.
    const putLock = (env: string, startedMsAgo: number, expiresInMs: number) =>
      put(`locks/${env}.json`, {
        nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        holder,
        tool: "deploy_lambda",
        component: "lambda",
        releaseId,
        startedAt: new Date(now - startedMsAgo).toISOString(),
        expiresAt: new Date(now + expiresInMs).toISOString(),
        ttlSeconds: 120,
      });
    await putLock("prod", 5 * 60_000, 90_000);
    await putLock("dev", 3 * 3_600_000, -10 * 60_000);
    // The dead dev deploy's record, still in_progress in its journal's switching phase.
    await put(`releases/dev/lambda/${releaseId}.json`, {
      releaseId,
      env: "dev",
      component: "lambda",
      tool: "deploy_lambda",
      status: "in_progress",
      who: holder,
      gitSha: null,
      startedAt: new Date(now - 3 * 3_600_000).toISOString(),
      finishedAt: null,
      planDigest: "sha256:test",
      phase: "switching",
      journal: [{ phase: "switching", at: new Date(now - 3 * 3_600_000).toISOString() }],
      recoveryPlan: "The next guarded call reads what the function runs and keeps or restores it.",
    });

    const held = (await invokeTool(preflightTool, { env: "prod", components: ["infra"] }, runtime))
      .structured as unknown as Report;
    expect(check(held, "lock").status).toBe("fail");
    expect(check(held, "lock").detail).toMatch(
      /release 20261125T130512345Z-3fa9c1 \(lambda\), started 5 min ago/,
    );
    expect(check(held, "lock").remedy).toMatch(/deploy_status shows it/);
    expect(check(held, "interrupted").status).toBe("pass");
    expect(held.ok).toBe(false);
    expect(held.summary).toMatch(/First failure — lock/);
    // The holder ARN was read from S3: outside text, in no field of the report.
    expect(JSON.stringify(held)).not.toContain(holder);

    const dead = (await invokeTool(preflightTool, { env: "dev", components: ["infra"] }, runtime))
      .structured as unknown as Report;
    expect(check(dead, "lock").status).toBe("warn");
    expect(check(dead, "lock").detail).toMatch(/left by a dead deploy/);
    expect(check(dead, "lock").remedy).toMatch(/next confirmed call takes the lock over/);
    expect(check(dead, "interrupted").status).toBe("warn");
    expect(check(dead, "interrupted").detail).toContain(
      `Release ${releaseId} (lambda) stopped in phase switching.`,
    );
    expect(check(dead, "interrupted").evidence?.[0]).toContain(`${releaseId}: The next guarded call reads`);
    expect(dead.summary).toMatch(/Warnings: .*lock, interrupted/);
    expect(JSON.stringify(dead)).not.toContain(holder);
    runtime.close();
  });

  it("fails resources that do not exist, naming each", async () => {
    const { runtime } = createApp(world, {
      devOverrides: {
        lambda: { functionName: unique("missing-fn"), artifactBucket: world.artifactBucket },
        frontend: {
          // An existing bucket that is not prod's site (sharing it would protect dev).
          buckets: [world.artifactBucket, "pf-no-such-bucket"],
          distributionId: "E0NOSUCHDIST00",
          url: null,
        },
      },
    });
    const report = (await invokeTool(preflightTool, { env: "dev", skipTests: true }, runtime))
      .structured as unknown as Report;
    const resources = check(report, "resources");
    expect(resources.status).toBe("fail");
    expect(resources.detail).toMatch(/Lambda pf-missing-fn-\S+: not found/);
    expect(resources.detail).toContain("bucket pf-no-such-bucket: not found");
    expect(resources.detail).toContain("CloudFront distribution E0NOSUCHDIST00: not found");
    expect(resources.detail).toContain(`bucket ${world.artifactBucket}: found`);
    expect(resources.remedy).toMatch(/functionName/);
    runtime.close();
  });

  it("answers over MCP with structuredContent that fits the outputSchema, with progress", async () => {
    const { repo, runtime } = createApp(world);
    const server = createMcpServer({ runtime });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: "preflight-test", version: "1.0.0" });
    await client.connect(clientSide);
    const progress: string[] = [];
    // The SDK client validates structuredContent against the tool's outputSchema itself.
    const result = await client.callTool(
      { name: "preflight", arguments: { env: "prod", components: ["backend", "infra"] } },
      undefined,
      { onprogress: (p) => progress.push(p.message ?? "") },
    );
    expect(result.isError).toBeFalsy();
    const report = result.structuredContent as unknown as Report;
    expect(report.checks.filter((c) => c.status === "fail")).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.gitSha).toBe(repo.head());
    expect(progress.length).toBeGreaterThan(0);
    await client.close();
    await server.close();
    runtime.close();
  });
});
