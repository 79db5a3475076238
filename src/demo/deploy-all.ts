import { type RollbackLine, rollbackCommand } from "./rollback-lines.js";
import { type DemoSession, print, type Structured } from "./session.js";

/**
 * `/deploy all [--apply] --env <env>` as .claude/commands/deploy.md lays it out, driven through
 * the MCP server with the person's part marked: what is live (deploy_status), the infra plan
 * (terraform_plan; with changes the flow stops unless --apply), preflight, a dry-run plan per
 * component, the person's confirmation (auto-approved in this demo), the infra apply of the
 * reviewed planDigest when --apply and the plan has changes, each deploy through the mutation
 * protocol, health, logs, what is live again, and the report with its rollback lines.
 */
export const AUTO_APPROVED = "auto-approved in this demo";

export interface DeployAllResult {
  /** 0: deployed (or nothing to deploy); 1: the flow stopped or a deploy failed. */
  code: number;
  /** The report's rollback lines (empty when nothing changed or the flow stopped early). */
  rollbackLines: RollbackLine[];
}

interface Row {
  component: "lambda" | "frontend" | "infra";
  result: string;
  change: string;
  release: string;
  tookMs: number;
}

const short = (value: unknown, n = 12): string =>
  typeof value === "string" && value.length > n ? `${value.slice(0, n)}…` : String(value ?? "none");
const listed = (items: string[]): string =>
  items.length < 2 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const record = (value: unknown): Record<string, unknown> =>
  value && typeof value === "object" ? (value as Record<string, unknown>) : {};

/** The facts a confirmation token stands for: the plan approved must be the plan confirmed. */
function planFacts(component: "lambda" | "frontend", answer: Structured): string {
  const plan = record(answer.plan);
  const keys =
    component === "lambda"
      ? ["codeSha256", "fromCodeSha256", "treeDigest", "artifactKey"]
      : ["upload", "unchanged", "delete", "files", "bytes", "uploadFiles", "deleteFiles"];
  return JSON.stringify(keys.map((key) => plan[key]));
}

function showLambdaPlan(answer: Structured): string {
  const plan = record(answer.plan);
  if (answer.status === "unchanged") return "lambda: unchanged, nothing to deploy";
  const changes = record(plan.fileChanges);
  return `lambda: ${plan.files} files, ${plan.bytes} B zipped; CodeSha256 ${short(plan.fromCodeSha256)} → ${short(plan.codeSha256)} (${changes.added ?? 0} added, ${changes.changed ?? 0} changed, ${changes.removed ?? 0} removed) on ${plan.functionName}${plan.alias ? `:${plan.alias}` : ""}, live now ${plan.fromVersion}`;
}

function showFrontendPlan(answer: Structured): string {
  const plan = record(answer.plan);
  if (answer.status === "unchanged") return "frontend: unchanged, nothing to deploy";
  const files = Array.isArray(plan.uploadFiles) ? (plan.uploadFiles as string[]) : [];
  const entry = files.filter((f) => !f.includes("/"));
  return `frontend: upload ${plan.upload} (${entry.join(", ") || "no entry points"}${files.length > entry.length ? `, ${files.length - entry.length} under assets/` : ""}), ${plan.unchanged} unchanged, ${plan.keptStale} stale kept, ${plan.delete} deleted, ${plan.bytes} B to ${(plan.buckets as string[] | undefined)?.join(", ")}${plan.truncated ? " (lists truncated)" : ""}`;
}

function showInfraPlan(plan: Structured): string {
  const counts = record(plan.counts);
  const changes = Array.isArray(plan.changes) ? (plan.changes as Array<Record<string, unknown>>) : [];
  // deploy.md: each data-loss risk first, in bold.
  const ordered = [...changes].sort(
    (a, b) => Number(Boolean(b.dataLossRisk)) - Number(Boolean(a.dataLossRisk)),
  );
  const lines = ordered.map(
    (c) =>
      `  ${c.dataLossRisk ? "**DATA LOSS RISK** " : ""}${c.address}: ${(c.actions as string[]).join(", ")}`,
  );
  return [
    `infra: ${counts.create} to create, ${counts.update} to update, ${counts.replace} to replace, ${counts.delete} to delete`,
    ...lines,
  ].join("\n");
}

export async function deployAll(
  session: DemoSession,
  options: { env: string; apply: boolean },
): Promise<DeployAllResult> {
  const { env, apply } = options;
  const call = session.call;
  const stopped = (why: string): DeployAllResult => {
    print(`\n■ stopped: ${why}`);
    return { code: 1, rollbackLines: [] };
  };
  const rows: Row[] = [];
  print(`— /deploy all${apply ? " --apply" : ""} --env ${env} —`);
  print(
    `Deploying all to ${env}: terraform plan${apply ? " (and apply)" : ""}, preflight, plans, your confirmation, deploy, health check.\n`,
  );

  const before = await call("deploy_status", { env });

  // infra step 1: the app is never deployed onto infrastructure that differs from the code.
  const infraT0 = performance.now();
  const infraPlan = await call("terraform_plan", { env });
  if (infraPlan.status === "error") return stopped("terraform_plan could not plan (see its summary above).");
  const infraChanges = infraPlan.status === "changes";
  if (infraChanges) {
    print(`    ${showInfraPlan(infraPlan).replace(/\n/g, "\n    ")}`);
    if (!apply) {
      return stopped(
        `the infrastructure differs from the code. Run /deploy infra --apply --env ${env}, then /deploy all --env ${env} again.`,
      );
    }
  }
  let infraMs = performance.now() - infraT0;

  const preflight = await call("preflight", { env, components: ["backend", "frontend"] });
  if (preflight.ok !== true) {
    const checks = Array.isArray(preflight.checks)
      ? (preflight.checks as Array<Record<string, unknown>>)
      : [];
    for (const check of checks.filter((c) => c.status === "fail")) {
      print(`    ✗ ${check.name}: ${check.detail}${check.remedy ? ` → ${check.remedy}` : ""}`);
    }
    return stopped("preflight failed.");
  }

  // The mutation protocol, step 1 and 2 for each component: plan with dryRun, show the plan.
  const lambdaT0 = performance.now();
  const lambdaPlan = await call("deploy_lambda", { env, dryRun: true });
  print(`    plan → ${showLambdaPlan(lambdaPlan)}`);
  let lambdaMs = performance.now() - lambdaT0;
  const frontendT0 = performance.now();
  const frontendPlan = await call("deploy_frontend", { env, dryRun: true });
  print(`    plan → ${showFrontendPlan(frontendPlan)}`);
  let frontendMs = performance.now() - frontendT0;

  // Step 3: ask. This is where a person reads the plans and answers.
  const reviewed = [
    infraChanges ? `the infra plan (planDigest ${short(infraPlan.planDigest)})` : null,
    lambdaPlan.status === "planned" ? "the Lambda plan" : null,
    frontendPlan.status === "planned" ? "the frontend plan" : null,
  ].filter((item): item is string => item !== null);
  print(
    `\n⏸ your confirmation: a person reviews ${listed(reviewed) || "the plans"} above and answers "Deploy this to ${env}?" — ${AUTO_APPROVED}\n`,
  );

  if (infraChanges && apply) {
    const t0 = performance.now();
    const applied = await call("terraform_apply", {
      env,
      planDigest: infraPlan.planDigest,
      ...(typeof infraPlan.confirmationToken === "string"
        ? { confirmationToken: infraPlan.confirmationToken }
        : {}),
    });
    infraMs += performance.now() - t0;
    if (applied.status !== "applied") {
      // deploy.md: plan again and start over; never reuse the old digest or token.
      return stopped(`terraform_apply answered ${applied.status}: plan again and start over.`);
    }
    const counts = record(applied.applied);
    rows.push({
      component: "infra",
      result: "applied",
      change: `${counts.create} created, ${counts.update} updated, ${counts.replace} replaced, ${counts.delete} deleted`,
      release: String(applied.releaseId ?? "none"),
      tookMs: infraMs,
    });
  } else {
    rows.push({ component: "infra", result: "no changes", change: "—", release: "—", tookMs: infraMs });
  }

  let deployStartedAt: string | null = null;
  /** Steps 4 and 5: the real call, then the token from its answer once the plan is the approved one. */
  const mutate = async (
    name: "deploy_lambda" | "deploy_frontend",
    component: "lambda" | "frontend",
    approved: Structured,
  ): Promise<Structured> => {
    deployStartedAt ??= new Date().toISOString();
    const first = await call(name, { env }, { allowFailure: true });
    if (first.status !== "confirmation_required") return first;
    if (planFacts(component, first) !== planFacts(component, approved)) {
      print("    the plan changed since it was approved: a person would be asked again");
      return { ...first, status: "plan_changed" };
    }
    print("    same plan as the one approved → confirmed with the token from this answer");
    return call(name, { env, confirmationToken: first.confirmationToken }, { allowFailure: true });
  };
  /** Section 7: say what failed, show what is live and the errors since the deploy began, stop. */
  const failed = async (component: string, answer: Structured): Promise<DeployAllResult> => {
    print(
      `\n✗ ${component} ended ${answer.status}${answer.status === "rolled_back" ? " (the automatic rollback ran: the previous version is live again)" : ""}`,
    );
    await call("deploy_status", { env });
    await call("tail_logs", { env, since: deployStartedAt ?? "15m", level: "ERROR" });
    return stopped(`${component} did not deploy; later components were not started.`);
  };

  let lambda = lambdaPlan;
  if (lambdaPlan.status !== "unchanged") {
    const t0 = performance.now();
    lambda = await mutate("deploy_lambda", "lambda", lambdaPlan);
    lambdaMs += performance.now() - t0;
    if (lambda.status !== "deployed" && lambda.status !== "unchanged") return failed("lambda", lambda);
  }
  let frontend = frontendPlan;
  if (frontendPlan.status !== "unchanged") {
    const t0 = performance.now();
    frontend = await mutate("deploy_frontend", "frontend", frontendPlan);
    frontendMs += performance.now() - t0;
    if (frontend.status !== "deployed" && frontend.status !== "unchanged")
      return failed("frontend", frontend);
  }

  const health = await call("health_check", { env });
  await call("tail_logs", { env, since: deployStartedAt ?? "15m", level: "ERROR" });
  await call("deploy_status", { env });

  const beforeLambda = record(before.lambda);
  const beforeFrontend = record(before.frontend);
  const text = (value: unknown): string | null => (typeof value === "string" && value ? value : null);
  // What served before: the deploy's own answer where it says so, else deploy_status before it.
  const lambdaBefore = {
    release: text(lambda.previousRelease) ?? text(beforeLambda.matchedReleaseId),
    codeSha256: text(lambda.previousCodeSha256) ?? text(beforeLambda.codeSha256),
  };
  const frontendBefore = {
    release: text(beforeFrontend.matchedReleaseId),
    indexHtmlSha256: text(beforeFrontend.indexHtmlSha256),
  };
  const live = record(lambda.live);
  rows.unshift(
    {
      component: "lambda",
      result: String(lambda.status),
      change:
        lambda.status === "deployed"
          ? `CodeSha256 ${short(lambdaBefore.codeSha256, 8)} → ${short(live.codeSha256 ?? lambda.codeSha256, 8)}, version ${lambda.version}`
          : "—",
      release: String(lambda.releaseId ?? "—"),
      tookMs: lambdaMs,
    },
    {
      component: "frontend",
      result: String(frontend.status),
      change:
        frontend.status === "deployed"
          ? `${record(frontend.uploaded).files} uploaded, ${record(frontend.plan).unchanged} unchanged, ${record(frontend.uploaded).deleted} deleted`
          : "—",
      release: String(frontend.releaseId ?? "—"),
      tookMs: frontendMs,
    },
  );

  // For every component that changed: back to the release that served before this one, by id.
  // Without one (this was the first release), the rollback's default: what served before it.
  const rollbackLines: RollbackLine[] = [];
  const notes: string[] = [];
  const addLine = (
    component: "lambda" | "frontend",
    release: string | null,
    expect: RollbackLine["expect"] | null,
  ) => {
    if (!expect) notes.push(`${component}: none (nothing served before this release)`);
    else
      rollbackLines.push({
        component,
        to: release,
        command: rollbackCommand(env, component, release),
        expect,
      });
  };
  if (lambda.status === "deployed") {
    addLine(
      "lambda",
      lambdaBefore.release,
      lambdaBefore.codeSha256 ? { codeSha256: lambdaBefore.codeSha256 } : null,
    );
  }
  if (frontend.status === "deployed") {
    addLine(
      "frontend",
      frontendBefore.release,
      frontendBefore.indexHtmlSha256 ? { indexHtmlSha256: frontendBefore.indexHtmlSha256 } : null,
    );
  }
  if (rows.some((r) => r.component === "infra" && r.result === "applied")) {
    notes.push(
      `infra: no rollback tool; revert the terraform change in git and run /deploy infra --apply --env ${env}`,
    );
  }
  printReport({ env, rows, preflight, health, frontend, rollbackLines, notes });
  return { code: health.verdict === "unhealthy" ? 1 : 0, rollbackLines };
}

function printReport(input: {
  env: string;
  rows: Row[];
  preflight: Structured;
  health: Structured;
  frontend: Structured;
  rollbackLines: RollbackLine[];
  notes: string[];
}): void {
  const { rows, preflight, health, frontend } = input;
  const deployed = rows.some((r) => r.result === "deployed" || r.result === "applied");
  const verdict = String(health.verdict);
  print("\n— report —");
  if (verdict !== "healthy") print(`**Health is ${verdict}**: see tail_logs above.`);
  print(`## /deploy all → ${input.env}: ${deployed ? "deployed" : "unchanged"}\n`);
  const table = [
    ["component", "result", "before → after", "release", "took"],
    ...rows.map((r) => [r.component, r.result, r.change, r.release, seconds(r.tookMs)]),
  ];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length))) ?? [];
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  print(line(table[0] ?? []));
  print(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of table.slice(1)) print(line(row));

  const checks = Array.isArray(preflight.checks) ? (preflight.checks as Array<Record<string, unknown>>) : [];
  const tests = checks
    .filter((c) => c.testCounts)
    .map((c) => {
      const t = record(c.testCounts);
      return `${c.name} ${t.passed} passed/${t.failed} failed`;
    });
  print(
    `\nGit: ${short(preflight.gitSha)} · preflight ${preflight.preflightId}: ${tests.join(", ") || "no test counts"}`,
  );
  const targets = Array.isArray(health.targets) ? (health.targets as Array<Record<string, unknown>>) : [];
  const lambdaHealth = record(health.lambda);
  print(
    `Health: ${verdict}; ${targets.map((t) => `${t.name} ${t.verdict} p50 ${t.p50Ms} ms, p95 ${t.p95Ms} ms`).join("; ") || "no targets"}; Lambda ${lambdaHealth.state ?? "?"}/${lambdaHealth.lastUpdateStatus ?? "?"}`,
  );
  const invalidation = record(frontend.invalidation);
  print(
    `CloudFront: ${invalidation.id ? `invalidation ${invalidation.id} (${(invalidation.paths as string[]).join(", ")}) ${invalidation.status}` : "none"}`,
  );
  print("Roll back (the exact commands to run in the app repo against the real account):");
  for (const rollback of input.rollbackLines) print(`  ${rollback.command}`);
  for (const note of input.notes) print(`  ${note}`);
  if (input.rollbackLines.length === 0 && input.notes.length === 0) print("  none: nothing changed");
}
