import { describe, expect, it } from "vitest";
import { formatHuman } from "../../src/cli/format.js";
import { clean, cut, table } from "../../src/cli/table.js";
import type { ToolCallResult } from "../../src/server/invoke.js";

function ok(structured: Record<string, unknown>): ToolCallResult {
  return { isError: false, complete: true, structured, text: JSON.stringify(structured) };
}
function failed(structured: Record<string, unknown>): ToolCallResult {
  return { isError: true, complete: true, structured, text: JSON.stringify(structured) };
}

const lines = (out: string) => out.split("\n");
/** The row of a table (or line) that starts with `first`. */
const rowOf = (out: string, first: string) => lines(out).find((l) => l.trimStart().startsWith(first)) ?? "";

/** No object or array is printed as multi-line JSON: no line is a lone brace or `"key": value`. */
function expectNoJsonDump(out: string) {
  for (const line of lines(out)) {
    expect(line.trim()).not.toMatch(/^[{}[\]],?$/);
    expect(line).not.toMatch(/^\s+"[^"]+": /);
  }
}

const SHA = "q1Vn0M2b9dT0yXH3oZrEw2C0m6m3sF0rU9kJ3Lp2aQk=";
const RELEASE = "20261125T130512345Z-3fa9c1";
const TOKEN = `v1.${"A".repeat(300)}.sig`;

const lambdaPlan = {
  component: "lambda",
  functionName: "vyaparai-api-prod",
  alias: "live",
  fromVersion: "12",
  fromCodeSha256: "old-sha",
  codeSha256: SHA,
  artifactBucket: "vyaparai-artifacts",
  artifactKey: "lambda/prod/abc.zip",
  files: 212,
  bytes: 1_048_576,
  unzippedBytes: 4_194_304,
  treeDigest: "d".repeat(64),
  fileChanges: { added: 2, removed: 0, changed: 5, comparedWith: "12" },
  rollback: { mode: "alias", version: "12" },
  force: false,
  unchanged: false,
  uploadNeeded: true,
  added: ["app/new_route.py", "app/util.py"],
  removed: [],
  changed: ["app/main.py"],
};

describe("formatHuman: first line", () => {
  it("marks success with ✓ and keeps the summary", () => {
    const out = formatHuman("deploy_lambda", ok({ summary: "Deployed v13.", status: "deployed" }));
    expect(lines(out)[0]).toBe("✓ deploy_lambda: Deployed v13.");
  });

  it("marks a rollback tool's rolled_back (its success) with ✓, a deploy's (isError) with ✗", () => {
    expect(formatHuman("rollback", ok({ summary: "s", status: "rolled_back" }))).toMatch(/^✓ rollback: s/);
    expect(formatHuman("deploy_lambda", failed({ summary: "s", status: "rolled_back" }))).toMatch(
      /^✗ deploy_lambda/,
    );
  });

  it("marks failed, error, ok:false and unhealthy with ✗", () => {
    for (const structured of [
      { status: "failed" },
      { status: "error" },
      { ok: false },
      { verdict: "unhealthy" },
    ]) {
      expect(formatHuman("t", ok({ summary: "s", ...structured }))).toMatch(/^✗ t: s/);
    }
  });

  it("marks confirmation_required and degraded with !", () => {
    expect(formatHuman("t", ok({ summary: "s", status: "confirmation_required" }))).toMatch(/^! t: s/);
    expect(formatHuman("t", ok({ summary: "s", verdict: "degraded" }))).toMatch(/^! t: s/);
  });

  it("shows an error's code in brackets and not the repeated error field", () => {
    const out = formatHuman(
      "deploy_lambda",
      failed({
        summary: "No passing preflight for HEAD abc.",
        error: { code: "PRECONDITION", message: "No passing preflight for HEAD abc." },
        gitSha: "abc",
      }),
    );
    expect(lines(out)[0]).toBe("✗ deploy_lambda [PRECONDITION]: No passing preflight for HEAD abc.");
    expect(out).toMatch(/^gitSha: abc$/m);
    expect(out).not.toContain('PRECONDITION"');
    expect(out).not.toMatch(/^error/m);
  });

  it("prints only the first line when nothing else is in the result", () => {
    expect(formatHuman("x", ok({ summary: "Nothing to do." }))).toBe("✓ x: Nothing to do.");
  });
});

describe("formatHuman: preflight", () => {
  const result = ok({
    summary: "Preflight for prod: 1 check failed.",
    ok: false,
    preflightId: "pf-1",
    gitSha: "0123456789abcdef0123456789abcdef01234567",
    env: "prod",
    components: ["backend", "frontend"],
    at: "2026-11-25T13:05:12.000Z",
    counts: { pass: 2, warn: 1, fail: 1 },
    durationMs: 5123,
    checks: [
      { name: "aws-identity", status: "pass", detail: "Account 123456789012 as deployer" },
      {
        name: "git-clean",
        status: "warn",
        detail: "2 untracked files",
        evidence: ["a.txt", "b.txt"],
        remedy: "Commit or remove them.",
      },
      {
        name: "backend-tests",
        status: "fail",
        detail: "pytest failed",
        testCounts: { passed: 40, failed: 2, skipped: 0, errors: 0, total: 42 },
        output: "collected 42 items\n\nFAILED tests/test_orders.py::test_total\n2 failed, 40 passed\n",
        remedy: "Fix the failing tests.",
      },
      { name: "deploy-lock", status: "pass", detail: "No lock held" },
    ],
  });

  it("marks a failed preflight ✗ and shows the checks as a table with a counts line", () => {
    const out = formatHuman("preflight", result);
    expect(lines(out)[0]).toBe("✗ preflight: Preflight for prod: 1 check failed.");
    expect(out).toMatch(/^counts: +pass=2 warn=1 fail=1$/m);
    expect(out).toMatch(/^components: +backend, frontend$/m);
    expect(rowOf(out, "name")).toMatch(/^ {2}name +status +detail +evidence +tests$/);
    expect(rowOf(out, "----")).toMatch(/^ {2}-+ +-+/);
    expect(rowOf(out, "git-clean")).toMatch(/git-clean +warn +2 untracked files +2 +-$/);
    expect(rowOf(out, "backend-tests")).toMatch(
      /backend-tests +fail +pytest failed +- +40\/42 passed, 2 failed/,
    );
    expect(out).toContain("git-clean: Commit or remove them.");
    expect(out).toContain("FAILED tests/test_orders.py::test_total");
    expectNoJsonDump(out);
  });

  it("aligns columns to the widest cell", () => {
    const out = formatHuman("preflight", result);
    const statusAt = (line: string) => line.search(/ (pass|warn|fail|status)\b/);
    const rows = ["name", "aws-identity", "git-clean", "backend-tests", "deploy-lock"].map((n) =>
      rowOf(out, n),
    );
    expect(new Set(rows.map(statusAt)).size).toBe(1);
  });

  it("marks a passing preflight ✓", () => {
    const passing = ok({ ...result.structured, ok: true, summary: "All checks passed." });
    expect(formatHuman("preflight", passing)).toMatch(/^✓ preflight: All checks passed\./);
  });
});

describe("formatHuman: deploy_lambda", () => {
  it("shows the plan as key/value lines, the token and its expiry on their own lines, and !", () => {
    const out = formatHuman(
      "deploy_lambda",
      ok({
        summary: "Protected env prod: show the plan to the user.",
        status: "confirmation_required",
        plan: lambdaPlan,
        codeSha256: SHA,
        confirmationToken: TOKEN,
        expiresAt: "2026-11-25T13:20:12.000Z",
      }),
    );
    expect(out.startsWith("! deploy_lambda: Protected env prod")).toBe(true);
    // The token is printed whole: a cut token cannot be passed back.
    expect(out).toMatch(new RegExp(`^confirmationToken: ${TOKEN.replace(/\./g, "\\.")}$`, "m"));
    expect(out).toMatch(/^expiresAt: +2026-11-25T13:20:12\.000Z$/m);
    expect(out).toMatch(/^plan:$/m);
    expect(out).toMatch(/^ {2}functionName: +vyaparai-api-prod$/m);
    expect(out).toMatch(/^ {2}fileChanges: +added=2 removed=0 changed=5 comparedWith=12$/m);
    expect(out).toMatch(/^ {2}added: +2 \(app\/new_route\.py, app\/util\.py\)$/m);
    expect(out).toMatch(/^ {2}removed: +none$/m);
    expect(out).toMatch(/^ {2}rollback: +mode=alias version=12$/m);
    expectNoJsonDump(out);
  });

  it("shows a rolled-back release as ✗ with failure, health, error logs, undo and warnings", () => {
    const out = formatHuman(
      "deploy_lambda",
      failed({
        summary: "Health gate failed; rolled back to v12.",
        status: "rolled_back",
        plan: lambdaPlan,
        codeSha256: SHA,
        releaseId: RELEASE,
        version: "13",
        previousVersion: "12",
        live: { version: "12", codeSha256: "old-sha" },
        failure: "health gate: /health answered 500",
        health: {
          verdict: "unhealthy",
          summary: "1 of 1 target unhealthy",
          targets: [
            {
              name: "api",
              url: "https://api.example.com/health",
              ok: false,
              verdict: "unhealthy",
              status: 500,
              p50Ms: 120,
              p95Ms: 340,
              attempts: 3,
              passed: 0,
            },
          ],
          lambda: { state: "Active", lastUpdateStatus: "Successful" },
        },
        errorLogs: [
          {
            timestamp: "2026-11-25T13:06:00.000Z",
            level: "ERROR",
            message: "KeyError: 'store_id'",
            requestId: null,
          },
        ],
        undo: {
          ok: false,
          attempts: 3,
          error: "alias update throttled",
          fixCommand:
            "aws lambda update-alias --function-name vyaparai-api-prod --name live --function-version 12",
        },
        warnings: ["stale lock was taken over"],
      }),
    );
    expect(lines(out)[0]).toBe("✗ deploy_lambda: Health gate failed; rolled back to v12.");
    expect(out).toMatch(new RegExp(`^releaseId: +${RELEASE}$`, "m"));
    expect(out).toMatch(/^version: +13$/m);
    expect(out).toMatch(/^previousVersion: +12$/m);
    expect(out).toMatch(/^failure: +health gate: \/health answered 500$/m);
    expect(out).toMatch(/^live: +version=12 codeSha256=old-sha$/m);
    expect(out).toMatch(/^ {2}verdict: +unhealthy$/m);
    expect(rowOf(out, "api ")).toMatch(
      /api +unhealthy +no +500 +120 ms +340 ms +0\/3 +https:\/\/api\.example\.com\/health/,
    );
    expect(out).toContain("2026-11-25T13:06:00.000Z ERROR KeyError: 'store_id'");
    expect(out).toMatch(
      /^ {2}fixCommand: aws lambda update-alias --function-name vyaparai-api-prod --name live --function-version 12$/m,
    );
    expect(out).toMatch(/^warnings:\n {2}- stale lock was taken over$/m);
    // Warnings and undo come last, next to the prompt.
    expect(out.indexOf("undo:")).toBeGreaterThan(out.indexOf("errorLogs:"));
    expectNoJsonDump(out);
  });
});

describe("formatHuman: deploy_frontend and rollback", () => {
  it("shows the frontend plan, upload counts and the live index.html per bucket", () => {
    const out = formatHuman(
      "deploy_frontend",
      ok({
        summary: "Deployed 3 files to prod.",
        status: "deployed",
        releaseId: RELEASE,
        plan: {
          upload: 3,
          unchanged: 120,
          delete: 0,
          bytes: 52_000,
          uploadFiles: ["index.html", "assets/app-1a2b.js", "assets/app-3c4d.css"],
          deleteFiles: [],
          files: 123,
          keptStale: 2,
          buckets: ["vyaparai-web-prod"],
          skippedDotfiles: 0,
          skippedDotfileList: [],
          truncated: false,
        },
        uploaded: { files: 3, bytes: 52_000, deleted: 0 },
        invalidation: { id: "I2J3", paths: ["/index.html"], status: "InProgress" },
        live: { entryPoints: "next", indexHtml: [{ bucket: "vyaparai-web-prod", sha256: "abc123" }] },
      }),
    );
    expect(lines(out)[0]).toBe("✓ deploy_frontend: Deployed 3 files to prod.");
    expect(out).toMatch(/^uploaded: +files=3 bytes=52000 deleted=0$/m);
    expect(out).toMatch(
      /^invalidation:\n {2}id: +I2J3\n {2}paths: +1 \(\/index\.html\)\n {2}status: +InProgress$/m,
    );
    expect(out).toMatch(
      /^ {2}uploadFiles: +3 \(index\.html, assets\/app-1a2b\.js, assets\/app-3c4d\.css\)$/m,
    );
    expect(out).toMatch(/^ {2}entryPoints: next$/m);
    expect(rowOf(out, "vyaparai-web-prod  ")).toMatch(/vyaparai-web-prod +abc123$/);
    expectNoJsonDump(out);
  });

  it("shows a failed rollback with ✗ and a confirmation one with ! and its token", () => {
    const base = {
      from: "13",
      to: "12",
      plan: {
        component: "lambda",
        action: "rollback",
        functionName: "vyaparai-api-prod",
        alias: "live",
        mode: "alias",
        fromVersion: "13",
        fromCodeSha256: "x",
        toReleaseId: null,
        toVersion: "12",
        toCodeSha256: "y",
        artifactKey: null,
      },
    };
    const failedOut = formatHuman(
      "rollback",
      failed({ summary: "Rollback failed.", status: "failed", failure: "UpdateAlias: throttled", ...base }),
    );
    expect(failedOut).toMatch(/^✗ rollback: Rollback failed\.$/m);
    expect(failedOut).toMatch(/^failure: +UpdateAlias: throttled$/m);
    expect(failedOut).toMatch(/^ {2}toReleaseId: +none$/m);
    const confirm = formatHuman(
      "rollback",
      ok({
        summary: "Confirm the rollback.",
        status: "confirmation_required",
        confirmationToken: "tok.123",
        expiresAt: "2026-11-25T13:20:00.000Z",
        ...base,
      }),
    );
    expect(confirm).toMatch(/^! rollback: Confirm the rollback\.$/m);
    expect(confirm).toMatch(/^confirmationToken: tok\.123$/m);
    expect(confirm).toMatch(/^from: +13$/m);
  });
});

describe("formatHuman: terraform", () => {
  it("shows a plan's counts, changes table, data-loss risks and digest", () => {
    const digest = "f".repeat(64);
    const out = formatHuman(
      "terraform_plan",
      ok({
        summary: "Plan for protected env prod: 1 to add, 1 to replace.",
        status: "changes",
        planDigest: digest,
        counts: { create: 1, update: 0, delete: 0, replace: 1 },
        changes: [
          {
            address: "aws_dynamodb_table.orders",
            type: "aws_dynamodb_table",
            actions: ["delete", "create"],
            actionReason: "replace_because_cannot_update",
            dataLossRisk: true,
          },
          {
            address: "aws_s3_bucket.assets",
            type: "aws_s3_bucket",
            actions: ["create"],
            dataLossRisk: false,
          },
        ],
        dataLossRisks: ["aws_dynamodb_table.orders"],
        terraformVersion: "terraform 1.11.4",
        confirmationToken: "tok.tf",
        expiresAt: "2026-11-25T13:20:00.000Z",
      }),
    );
    // A token alone is not a confirmation_required status: the plan itself succeeded.
    expect(lines(out)[0]).toMatch(/^✓ terraform_plan: /);
    expect(out).toMatch(new RegExp(`^planDigest: +${digest}$`, "m"));
    expect(out).toMatch(/^counts: +create=1 update=0 delete=0 replace=1$/m);
    expect(rowOf(out, "address")).toMatch(/address +actions +reason +risk$/);
    expect(rowOf(out, "aws_dynamodb_table.orders  ")).toMatch(
      /aws_dynamodb_table\.orders +delete, create +replace_because_cannot_update +DATA LOSS$/,
    );
    expect(rowOf(out, "aws_s3_bucket.assets")).toMatch(/aws_s3_bucket\.assets +create +-$/);
    expect(out).toMatch(/^dataLossRisks:\n {2}- aws_dynamodb_table\.orders$/m);
    expect(out).toMatch(/^confirmationToken: tok\.tf$/m);
    expectNoJsonDump(out);
  });

  it("shows a failed plan as ✗ with its errors, lock and the end of the output", () => {
    const tail = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join("\n");
    const out = formatHuman(
      "terraform_plan",
      ok({
        summary: "No plan for prod: the state lock is held.",
        status: "error",
        planDigest: "",
        counts: { create: 0, update: 0, delete: 0, replace: 0 },
        changes: [],
        dataLossRisks: [],
        terraformVersion: "terraform 1.11.4",
        phase: "plan",
        errors: ["Error acquiring the state lock"],
        lock: {
          id: "lock-1",
          path: "s3://tf/state",
          operation: "OperationTypeApply",
          who: "ci@runner",
          version: "1.11.4",
          created: "2026-11-25T12:00:00Z",
        },
        outputTail: tail,
      }),
    );
    expect(lines(out)[0]).toMatch(/^✗ terraform_plan: /);
    expect(out).toMatch(/^changes: +\(none\)|^changes:\n {2}\(none\)/m);
    expect(out).toMatch(/^errors:\n {2}- Error acquiring the state lock$/m);
    expect(out).toMatch(/^ {2}who: +ci@runner$/m);
    expect(out).toContain("  … 15 earlier lines\n  line 16");
    expect(out).toMatch(/^ {2}line 30$/m);
    expect(out).not.toMatch(/^ {2}line 15$/m);
  });

  it("shows an apply's planned and applied counts", () => {
    const out = formatHuman(
      "terraform_apply",
      ok({
        summary: "Applied.",
        status: "applied",
        releaseId: RELEASE,
        planDigest: "a".repeat(64),
        planned: { create: 1, update: 2, delete: 0, replace: 0 },
        applied: { create: 1, update: 2, delete: 0, replace: 0 },
        dataLossRisks: [],
        terraformVersion: "terraform 1.11.4",
      }),
    );
    expect(lines(out)[0]).toBe("✓ terraform_apply: Applied.");
    expect(out).toMatch(/^planned: +create=1 update=2 delete=0 replace=0$/m);
    expect(out).toMatch(/^applied: +create=1 update=2 delete=0 replace=0$/m);
    expect(out).toMatch(/^dataLossRisks: +none$/m);
  });
});

describe("formatHuman: health_check", () => {
  const target = (name: string, verdict: string, extra: Record<string, unknown> = {}) => ({
    name,
    url: `https://${name}.example.com/health`,
    ok: verdict === "healthy",
    verdict,
    status: 200,
    p50Ms: 80,
    p95Ms: 910,
    attempts: 3,
    passed: 3,
    ...extra,
  });

  it("shows targets as a table, the Lambda line and ! when degraded", () => {
    const out = formatHuman(
      "health_check",
      ok({
        summary: "Degraded: api is slow.",
        verdict: "degraded",
        targets: [target("api", "degraded"), target("frontend", "healthy", { p95Ms: 95 })],
        lambda: { state: "Active", lastUpdateStatus: "Successful" },
      }),
    );
    expect(lines(out)[0]).toBe("! health_check: Degraded: api is slow.");
    expect(out).toMatch(/^verdict: +degraded$/m);
    expect(out).toMatch(/^lambda: +state=Active lastUpdateStatus=Successful$/m);
    expect(rowOf(out, "name")).toMatch(/name +verdict +ok +status +p50 +p95 +passed +url$/);
    expect(rowOf(out, "api ")).toMatch(
      /api +degraded +no +200 +80 ms +910 ms +3\/3 +https:\/\/api\.example\.com/,
    );
    expect(rowOf(out, "frontend")).toMatch(/frontend +healthy +yes +200 +80 ms +95 ms +3\/3/);
    expectNoJsonDump(out);
  });

  it("marks unhealthy ✗, shows null latencies as - and the Lambda as none when absent", () => {
    const out = formatHuman(
      "health_check",
      ok({
        summary: "Unhealthy.",
        verdict: "unhealthy",
        targets: [
          target("api", "unhealthy", {
            status: null,
            p50Ms: null,
            p95Ms: null,
            passed: 0,
            error: "ECONNREFUSED",
          }),
        ],
        lambda: null,
      }),
    );
    expect(lines(out)[0]).toBe("✗ health_check: Unhealthy.");
    expect(rowOf(out, "api ")).toMatch(/api +unhealthy +no +- +- +- +0\/3 +\S+ +ECONNREFUSED$/);
    expect(out).toMatch(/^lambda: +none$/m);
  });
});

describe("formatHuman: deploy_status", () => {
  it("shows lambda and frontend blocks, releases table, lock, interrupted and drift", () => {
    const out = formatHuman(
      "deploy_status",
      ok({
        summary: "prod: lambda v13 matches; frontend drift.",
        lambda: {
          functionName: "vyaparai-api-prod",
          exists: true,
          alias: "live",
          liveVersion: "13",
          codeSha256: SHA,
          lastModified: "2026-11-25T13:06:00.000Z",
          state: "Active",
          lastUpdateStatus: "Successful",
          matchedReleaseId: RELEASE,
          verdict: "matches",
          openReleaseId: null,
        },
        frontend: {
          bucket: "vyaparai-web-prod",
          url: "https://app.example.com",
          indexHtmlPresent: true,
          indexHtmlSha256: "abc",
          metadataSha256: "def",
          lastModified: "2026-11-24T10:00:00.000Z",
          matchedReleaseId: null,
          verdict: "drift",
          openReleaseId: null,
        },
        releases: [
          {
            component: "lambda",
            releaseId: RELEASE,
            tool: "deploy_lambda",
            status: "succeeded",
            phase: "finishing",
            who: "arn:aws:sts::123456789012:assumed-role/deployer/ci",
            startedAt: "2026-11-25T13:05:12.345Z",
            finishedAt: "2026-11-25T13:06:30.000Z",
            gitSha: "0123456789abcdef0123456789abcdef01234567",
            version: "13",
          },
          {
            component: "frontend",
            releaseId: "20261124T100000000Z-aaaaaa",
            tool: "deploy_frontend",
            status: "failed",
            phase: "uploading",
            who: null,
            startedAt: "2026-11-24T10:00:00.000Z",
            finishedAt: "2026-11-24T10:01:00.000Z",
            gitSha: null,
            error: "PutObject: AccessDenied",
          },
        ],
        drift: ["frontend: index.html differs from the newest finished release"],
        lock: null,
        interrupted: [],
      }),
    );
    expect(lines(out)[0]).toBe("✓ deploy_status: prod: lambda v13 matches; frontend drift.");
    expect(out).toMatch(/^lambda:\n {2}functionName: +vyaparai-api-prod$/m);
    expect(out).toMatch(/^ {2}liveVersion: +13$/m);
    expect(out).toMatch(/^ {2}exists: +yes$/m);
    expect(out).toMatch(/^ {2}matchedReleaseId: +none$/m);
    expect(out).toMatch(/^ {2}verdict: +drift$/m);
    expect(rowOf(out, "releaseId")).toMatch(
      /releaseId +component +tool +status +phase +startedAt +version +error$/,
    );
    expect(rowOf(out, RELEASE)).toMatch(
      /20261125T130512345Z-3fa9c1 +lambda +deploy_lambda +succeeded +finishing +2026-11-25T13:05:12\.345Z +13 +-$/,
    );
    expect(rowOf(out, "20261124T")).toMatch(
      /frontend +deploy_frontend +failed +uploading .* +- +PutObject: AccessDenied$/,
    );
    expect(out).toMatch(/^lock: +none$/m);
    expect(out).toMatch(/^interrupted: +none$/m);
    expect(out).toMatch(/^drift:\n {2}- frontend: index\.html differs/m);
    expectNoJsonDump(out);
  });

  it("shows a held lock and interrupted releases", () => {
    const out = formatHuman(
      "deploy_status",
      ok({
        summary: "A release is interrupted.",
        lock: {
          state: "expired",
          releaseId: RELEASE,
          tool: "deploy_lambda",
          component: "lambda",
          startedAt: "2026-11-25T13:05:12.345Z",
          expiresAt: "2026-11-25T13:20:12.345Z",
          holder: "ci@runner-7",
        },
        interrupted: [
          {
            releaseId: RELEASE,
            component: "lambda",
            tool: "deploy_lambda",
            phase: "switching",
            startedAt: "2026-11-25T13:05:12.345Z",
            why: "record in_progress, no live lock",
            recoveryPlan: "restore alias to 12",
          },
        ],
      }),
    );
    expect(out).toMatch(/^lock:\n {2}state: +expired$/m);
    expect(out).toMatch(/^ {2}holder: +ci@runner-7$/m);
    expect(rowOf(out, RELEASE)).toMatch(
      /lambda +deploy_lambda +switching +\S+ +record in_progress, no live lock +restore alias to 12$/,
    );
  });
});

describe("formatHuman: tail_logs", () => {
  const events = Array.from({ length: 45 }, (_, i) => ({
    timestamp: `2026-11-25T13:${String(i).padStart(2, "0")}:00.000Z`,
    level: i % 10 === 0 ? "ERROR" : "INFO",
    message: `request ${i} done`,
    requestId: null,
  }));

  it("shows the newest events as time level message lines, the earlier counted, and stats", () => {
    const out = formatHuman(
      "tail_logs",
      ok({
        summary: "/aws/lambda/vyaparai-api-prod: scanned 45 events.",
        logGroup: "/aws/lambda/vyaparai-api-prod",
        events,
        stats: {
          byLevel: { INFO: 40, ERROR: 5 },
          errorGroups: [
            {
              message: "KeyError: 'store_id'",
              count: 5,
              firstSeen: "t1",
              lastSeen: "t2",
              sampleRequestId: "r-1",
            },
          ],
          invocations: 45,
          durationP50Ms: 12,
          durationP95Ms: 80,
          durationMaxMs: 300,
          coldStarts: 1,
          timeouts: 0,
          maxMemoryUsedMb: 90,
          memorySizeMb: 256,
        },
        truncated: false,
        scanned: 45,
        matched: 45,
        window: { since: "2026-11-25T13:00:00.000Z", until: "2026-11-25T13:45:00.000Z" },
      }),
    );
    expect(lines(out)[0]).toBe("✓ tail_logs: /aws/lambda/vyaparai-api-prod: scanned 45 events.");
    expect(out).toMatch(/^logGroup: +\/aws\/lambda\/vyaparai-api-prod$/m);
    expect(out).toMatch(/^window: +since=2026-11-25T13:00:00\.000Z until=2026-11-25T13:45:00\.000Z$/m);
    expect(out).toContain("  … 5 earlier\n  2026-11-25T13:05:00.000Z INFO  request 5 done");
    expect(out).toMatch(/^ {2}2026-11-25T13:40:00\.000Z ERROR request 40 done$/m);
    expect(out).toMatch(/^ {2}2026-11-25T13:44:00\.000Z INFO {2}request 44 done$/m);
    expect(out).not.toContain("request 4 done");
    expect(out).toMatch(/^stats:\n {2}byLevel: +INFO=40 ERROR=5$/m);
    expect(out).toMatch(/^ {2}durationP95Ms: +80$/m);
    expect(rowOf(out, "message")).toMatch(/message +count +firstSeen +lastSeen +sampleRequestId$/);
    expect(rowOf(out, "KeyError")).toMatch(/KeyError: 'store_id' +5 +t1 +t2 +r-1$/);
    expectNoJsonDump(out);
  });

  it("escapes control characters in untrusted log text", () => {
    const out = formatHuman(
      "tail_logs",
      ok({
        summary: "s",
        events: [{ timestamp: "t", level: "INFO", message: "red \u001b[31mALERT\u001b[0m\nnext line" }],
      }),
    );
    expect(out).not.toContain("\u001b");
    expect(out).toContain("red \\u001b[31mALERT\\u001b[0m next line");
  });
});

describe("formatHuman: list_tables", () => {
  it("shows the tables as a table with status, items, billing and pitr", () => {
    const table = (resource: string, extra: Record<string, unknown> = {}) => ({
      name: `vyaparai-${resource}-prod`,
      resource,
      status: "ACTIVE",
      itemCount: 1200,
      sizeBytes: 340_000,
      billingMode: "PAY_PER_REQUEST",
      pitr: "ENABLED",
      encryption: "KMS",
      expected: true,
      ...extra,
    });
    const out = formatHuman(
      "list_tables",
      ok({
        summary: "2 table(s) in prod (ap-south-1); missing: payments.",
        env: "prod",
        region: "ap-south-1",
        tables: [
          table("orders"),
          table("stores", { status: "UPDATING", itemCount: null, pitr: "DISABLED", expected: false }),
        ],
        missing: ["payments"],
        unexpected: [],
      }),
    );
    expect(lines(out)[0]).toBe("✓ list_tables: 2 table(s) in prod (ap-south-1); missing: payments.");
    expect(out).toMatch(/^region: +ap-south-1$/m);
    expect(rowOf(out, "name")).toMatch(/name +status +items +bytes +billing +pitr +encryption +expected$/);
    expect(rowOf(out, "vyaparai-orders-prod")).toMatch(
      /vyaparai-orders-prod +ACTIVE +1200 +340000 +PAY_PER_REQUEST +ENABLED +KMS +yes$/,
    );
    expect(rowOf(out, "vyaparai-stores-prod")).toMatch(
      /vyaparai-stores-prod +UPDATING +- +340000 +PAY_PER_REQUEST +DISABLED +KMS +no$/,
    );
    expect(out).toMatch(/^missing: +payments$/m);
    expect(out).toMatch(/^unexpected: +none$/m);
    expectNoJsonDump(out);
  });
});

describe("formatHuman: bounds and fallback", () => {
  it("cuts long cells with an ellipsis and says how many rows are left out", () => {
    const long = `aws_s3_object.${"x".repeat(200)}`;
    const changes = Array.from({ length: 55 }, (_, i) => ({
      address: i === 0 ? long : `aws_s3_object.file_${i}`,
      type: "aws_s3_object",
      actions: ["create"],
      dataLossRisk: false,
    }));
    const out = formatHuman("terraform_plan", ok({ summary: "s", status: "changes", changes }));
    const first = rowOf(out, "aws_s3_object.xxx");
    expect(first).toContain(`${long.slice(0, 59)}…`);
    expect(first).not.toContain(long.slice(0, 61));
    expect(out).toContain("aws_s3_object.file_39");
    expect(out).not.toContain("aws_s3_object.file_40");
    expect(out).toMatch(/^ {2}… 15 more$/m);
  });

  it("prints unknown fields as key: value lines with compact, bounded JSON", () => {
    const big = { nested: { deep: Array.from({ length: 100 }, (_, i) => ({ i, text: "lorem ipsum" })) } };
    const out = formatHuman(
      "some_future_tool",
      ok({
        summary: "s",
        count: 3,
        flag: true,
        note: "a\nb",
        small: { a: 1, b: "two" },
        big,
        list: [1, 2, 3],
      }),
    );
    expect(out).toMatch(/^count: +3$/m);
    expect(out).toMatch(/^flag: +yes$/m);
    expect(out).toMatch(/^note: +a b$/m);
    expect(out).toMatch(/^small: +a=1 b=two$/m);
    expect(out).toMatch(/^ {2}nested: \{"deep":\[\{"i":0,/m);
    const nested = rowOf(out, "nested:");
    expect(nested.endsWith("…")).toBe(true);
    expect(nested.length).toBeLessThanOrEqual(2 + "nested: ".length + 200);
    expect(out).toMatch(/^list: +1, 2, 3$/m);
    expectNoJsonDump(out);
  });

  it("treats keys and tool names that name Object.prototype members as plain fields", () => {
    const out = formatHuman("constructor", ok({ summary: "s", toString: "x", constructor: { a: 1 } }));
    expect(out).toBe("✓ constructor: s\n\ntoString:    x\nconstructor: a=1");
  });

  it("shows an unexpected failure's detail without dumping it", () => {
    const out = formatHuman("list_tables", {
      isError: true,
      complete: false,
      structured: {
        summary: "Unexpected failure (TypeError); its message is in cause.",
        error: { code: "TOOL_FAILED", message: "Unexpected failure (TypeError); its message is in cause." },
        cause: "x is not a function",
      },
      text: "",
    });
    expect(out).toBe(
      "✗ list_tables [TOOL_FAILED]: Unexpected failure (TypeError); its message is in cause.\n\ncause: x is not a function",
    );
  });
});

describe("table helpers", () => {
  it("pads columns, draws the rule, drops empty columns and caps rows", () => {
    expect(
      table(
        ["a", "bb", "unused"],
        [
          ["xxx", 1, undefined],
          ["y", null, undefined],
        ],
      ),
    ).toEqual(["a    bb", "---  --", "xxx  1", "y    -"]);
    expect(table(["n"], [[1], [2], [3]], 2)).toEqual(["n", "-", "1", "2", "… 1 more"]);
    expect(table(["n"], [])).toEqual(["(none)"]);
  });

  it("cuts without halving a surrogate pair and escapes control characters", () => {
    expect(cut("abcdef", 4)).toBe("abc…");
    expect(cut("ab😀cd", 4)).toBe("ab…");
    expect(clean("a\tb\r\nc\u0007\u202e")).toBe("a b c\\u0007\\u202e");
  });
});
