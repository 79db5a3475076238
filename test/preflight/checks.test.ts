import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createAwsClients } from "../../src/aws/clients.js";
import { loadConfig } from "../../src/config/load.js";
import { commandProgram } from "../../src/preflight/binaries.js";
import { boundedTail, execSimpleCommand } from "../../src/preflight/tests.js";
import { findPassingPreflight } from "../../src/release/preflight-records.js";
import { invokeTool } from "../../src/server/invoke.js";
import { createRuntime, type Runtime } from "../../src/server/runtime.js";
import { preflightTool } from "../../src/tools/preflight.js";
import { createGitRepo, type GitFixture } from "../support/git-fixtures.js";
import { useMoto } from "../support/moto.js";
import { testRuntime, toolContextFor } from "../support/runtime.js";
import { check, type Report } from "./preflight-report.js";

const moto = useMoto();

const GIT_IDENTITY = "git -c user.name=Tester -c user.email=t@example.test -c commit.gpgsign=false";

/** A repo with a backend whose test command is `testCommand`, config committed, tree clean. */
function app(
  testCommand: string,
  extra: {
    backend?: Record<string, unknown>;
    env?: Record<string, unknown>;
    files?: Record<string, string>;
  } = {},
): { repo: GitFixture; runtime: Runtime } {
  const repo = createGitRepo({
    files: {
      ".gitignore": "__pycache__/\n.pytest_cache/\n",
      "backend/tests/test_ok.py": "def test_ok():\n    assert True\n",
      ...extra.files,
    },
  });
  const env = {
    health: [],
    frontend: { buckets: ["pf-unused-site"], distributionId: null, url: null },
    ...extra.env,
  };
  const runtime = testRuntime({
    moto: moto.current,
    appRoot: repo.dir,
    config: {
      // dev has its own site bucket: one sharing prod's would be protected like prod.
      environments: {
        prod: env,
        dev: { ...env, frontend: { buckets: ["pf-unused-site-dev"], distributionId: null, url: null } },
      },
      backend: { testCommand, ...extra.backend },
    },
  });
  repo.commitAll("config");
  return { repo, runtime };
}

async function preflight(runtime: Runtime, args: Record<string, unknown>, signal?: AbortSignal) {
  const progress: string[] = [];
  const result = await invokeTool(preflightTool, args, runtime, {
    progress: (message) => progress.push(message),
    ...(signal ? { signal } : {}),
  });
  return { result, report: result.structured as unknown as Report, progress };
}

describe("preflight git check on real repositories", () => {
  it("warns about unpushed commits and passes when in sync with the upstream", async () => {
    const { repo, runtime } = app("python3 -m pytest -q");
    repo.addBareRemote();
    const synced = await preflight(runtime, { env: "dev", components: ["backend"] });
    expect(check(synced.report, "git")).toMatchObject({ status: "pass" });
    expect(check(synced.report, "git").detail).toContain("In sync with the upstream branch");
    // Branch names are the repo's text: evidence, never detail.
    expect(check(synced.report, "git").evidence).toEqual(["branch: main", "upstream: origin/main"]);

    repo.write("backend/tests/test_more.py", "def test_more():\n    assert True\n");
    repo.commitAll("more");
    repo.write("backend/tests/test_more2.py", "def test_more2():\n    assert True\n");
    repo.commitAll("more again");
    const ahead = await preflight(runtime, { env: "dev", components: ["backend"] });
    expect(check(ahead.report, "git")).toMatchObject({ status: "warn" });
    expect(check(ahead.report, "git").detail).toContain("2 commit(s) not pushed to the upstream branch");
    runtime.close();
  });

  it("fails when HEAD moves while the tests run", async () => {
    const { repo, runtime } = app(
      `${GIT_IDENTITY} commit -q --allow-empty -m during && python3 -m pytest -q`,
    );
    const before = repo.head();
    const { report } = await preflight(runtime, { env: "dev", components: ["backend"] });
    expect(repo.head()).not.toBe(before);
    expect(check(report, "git")).toMatchObject({ status: "fail" });
    expect(check(report, "git").detail).toContain(`HEAD moved from ${before.slice(0, 12)}`);
    expect(report.ok).toBe(false);
    runtime.close();
  });

  it("fails on prod when the tests leave files behind, and says to ignore them", async () => {
    const { runtime } = app("python3 -m pytest -q && echo report > coverage-report.txt");
    const { report } = await preflight(runtime, { env: "prod", components: ["backend"] });
    expect(check(report, "tests:backend").status).toBe("pass");
    expect(check(report, "git")).toMatchObject({ status: "fail" });
    expect(check(report, "git").evidence).toContain("backend/coverage-report.txt");
    expect(check(report, "git").detail).not.toContain("coverage-report");
    expect(check(report, "git").remedy).toMatch(/\.gitignore/);
    runtime.close();
  });
});

describe("preflight test runs", () => {
  it("fails a test command that exceeds its time bound, saying so", async () => {
    const { runtime } = app("sleep 30", { backend: { testTimeoutSeconds: 1 } });
    const { report } = await preflight(runtime, { env: "dev", components: ["backend"] });
    const tests = check(report, "tests:backend");
    expect(tests.status).toBe("fail");
    expect(tests.detail).toMatch(/timed out after 1 s/);
    expect(tests.remedy).toMatch(/testTimeoutSeconds/);
    runtime.close();
  });

  it("stops the tests and returns a cancellation when the call is cancelled", async () => {
    // A single program (the shell execs it), so cancelling stops the very process that runs.
    const { repo, runtime } = app("node slow-tests.cjs", {
      files: {
        "backend/slow-tests.cjs":
          'console.log("started");\nsetTimeout(() => require("node:fs").writeFileSync("finished.marker", ""), 30_000);\n',
      },
    });
    const controller = new AbortController();
    const progress: string[] = [];
    const result = await invokeTool(preflightTool, { env: "dev", components: ["backend"] }, runtime, {
      signal: controller.signal,
      progress: (message) => {
        progress.push(message);
        if (message.startsWith("tests:backend:")) controller.abort();
      },
    });
    expect(result.isError).toBe(true);
    expect((result.structured as unknown as Report).error?.code).toBe("CANCELLED");
    expect(existsSync(join(repo.dir, "backend", "finished.marker"))).toBe(false);
    runtime.close();
  });

  it("names a missing test runner in binaries and fails the tests with exit 127", async () => {
    const { runtime } = app("vyaparai-no-such-runner --quick");
    const { report } = await preflight(runtime, { env: "dev", components: ["backend"] });
    expect(check(report, "binaries")).toMatchObject({ status: "fail" });
    expect(check(report, "binaries").detail).toContain(
      "vyaparai-no-such-runner (needed by backend.testCommand)",
    );
    expect(check(report, "tests:backend").detail).toMatch(/exit 127/);
    runtime.close();
  });

  it("warns when the backend has no test command on dev, and fails on a protected env", async () => {
    const { repo, runtime } = app("python3 -m pytest -q", { backend: { testCommand: null } });
    const { report } = await preflight(runtime, { env: "dev", components: ["backend"] });
    expect(check(report, "tests:backend")).toMatchObject({ status: "warn" });
    expect(check(report, "tests:backend").remedy).toMatch(/backend\.testCommand/);
    // "No tests" never vouches for a protected env: the gate stays closed.
    const prod = await preflight(runtime, { env: "prod", components: ["backend"] });
    expect(prod.report.ok).toBe(false);
    expect(check(prod.report, "tests:backend")).toMatchObject({ status: "fail" });
    expect(check(prod.report, "tests:backend").remedy).toMatch(/backend\.testCommand/);
    expect(await findPassingPreflight(toolContextFor(runtime, { envName: "prod" }), repo.head())).toBeNull();
    runtime.close();
  });
});

describe("preflight components and identity", () => {
  it("infra only: binaries and the terraform folder, no tests or resources", async () => {
    const { runtime } = app("python3 -m pytest -q", {
      env: { terraform: { dir: "infra/tf-missing" } },
    });
    const { report } = await preflight(runtime, { env: "dev", components: ["infra"] });
    expect(report.checks.map((c) => c.name)).toEqual([
      "config",
      "aws-identity",
      "region",
      "git",
      "binaries",
      "terraform-dir",
      "lock",
      "interrupted",
    ]);
    expect(check(report, "binaries").detail).toMatch(/terraform|tofu/);
    expect(check(report, "terraform-dir")).toMatchObject({ status: "fail" });
    expect(check(report, "terraform-dir").remedy).toContain("environments.dev.terraform.dir");
    runtime.close();
  });

  it("fails aws-identity with a credentials remedy when no credentials load", async () => {
    const { repo, runtime: base } = app("python3 -m pytest -q");
    base.close();
    // A named profile that no config file defines: the SDK's real credential chain fails.
    const runtime = createRuntime({
      loaded: loadConfig({ cwd: repo.dir, env: {} }),
      env: {},
      makeClients: (env) =>
        createAwsClients({
          region: env.region,
          endpoint: moto.current.endpoint,
          profile: "vyaparai-no-such-profile",
        }),
    });
    const { report } = await preflight(runtime, { env: "dev", components: ["infra"] });
    const identity = check(report, "aws-identity");
    expect(identity.status).toBe("fail");
    expect(identity.remedy).toMatch(/Refresh the AWS credentials/);
    expect(report.summary).toMatch(/First failure — aws-identity/);
    runtime.close();
  });
});

describe("helpers", () => {
  it("finds the program of a shell command line", () => {
    expect(commandProgram("python3 -m pytest -q")).toBe("python3");
    expect(commandProgram("CI=1 FOO='x' npm test")).toBe("npm");
    expect(commandProgram("env PYTHONPATH=. pytest")).toBe("pytest");
    expect(commandProgram("./scripts/test.sh --fast")).toBe("./scripts/test.sh");
    expect(commandProgram("cd backend && pytest")).toBeNull();
  });

  it("execs simple test commands so a timeout or cancel reaches the runner itself", () => {
    expect(execSimpleCommand("python3 -m pytest -q")).toBe("exec python3 -m pytest -q");
    expect(execSimpleCommand("npm test -- --run 'a b'")).toBe("exec npm test -- --run 'a b'");
    expect(execSimpleCommand("CI=1 npm test")).toBe("CI=1 npm test");
    expect(execSimpleCommand("cd app && pytest")).toBe("cd app && pytest");
    expect(execSimpleCommand("pytest > out.txt")).toBe("pytest > out.txt");
    expect(execSimpleCommand("pytest $ARGS")).toBe("pytest $ARGS");
  });

  it("bounds the output tail at a line start so no secret is cut in half", () => {
    const filler = Array.from(
      { length: 200 },
      (_, i) => `line ${String(i).padStart(3, "0")} ${"x".repeat(91)}`,
    );
    const secretLine = `key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`;
    for (let shift = 0; shift < secretLine.length; shift++) {
      // Place the secret line so that the 4000-character cut falls at every offset inside it.
      const after = filler
        .slice(0, 50)
        .join("\n")
        .slice(0, 4000 - (secretLine.length - shift) - 1);
      const text = `${filler.join("\n")}\n${secretLine}\n${after}`;
      const tail = boundedTail(text);
      expect(tail.length).toBeLessThanOrEqual(4000);
      expect(tail.length).toBeGreaterThan(3000);
      expect(tail).not.toMatch(/IOSFODNN7EXAMPLE|EXAMPLEKEY/);
    }
  });
});
