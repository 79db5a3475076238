import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * `npm run demo` as a person runs it, plus --verify-rollback: the built demo drives
 * `/deploy all --env prod` through the stdio server against its own moto, then runs every
 * rollback line its report printed through the built CLI and reads back what serves.
 * DEMO_DIST points at another build (default dist/, which `npm test` builds first).
 */
const DIST = resolve(process.env.DEMO_DIST ?? resolve(import.meta.dirname, "../../dist"));
const DEMO = resolve(DIST, "demo/run.js");
// Under CI a missing build is a failure, never a skip.
const runs = existsSync(DEMO) || process.env.CI === "true";

function runDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], {
      cwd: resolve(import.meta.dirname, "../.."),
      env: process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (code) => resolveRun({ code, output }));
  });
}

/** Where each needle first appears in `text` after the previous one; -1 when it does not. */
function positionsInOrder(text: string, needles: string[]): Array<[string, number]> {
  let from = 0;
  return needles.map((needle) => {
    const at = text.indexOf(needle, from);
    if (at >= 0) from = at + needle.length;
    return [needle, at];
  });
}

describe("the demo", () => {
  it.runIf(runs)(
    "runs /deploy all --env prod in the slash command's order, and every rollback line it prints works",
    async () => {
      expect(existsSync(DEMO), `${DEMO} is missing: run npm run build first`).toBe(true);
      const { code, output } = await runDemo(["--verify-rollback"]);
      expect(code, output).toBe(0);

      const header = "— /deploy all --env prod —";
      expect(output, output).toContain(header);
      const flow = output.slice(output.indexOf(header));
      const steps = positionsInOrder(flow, [
        '✓ deploy_status({"env":"prod"})',
        '✓ terraform_plan({"env":"prod"})',
        '✓ preflight({"env":"prod","components":["backend","frontend"]})',
        '✓ deploy_lambda({"env":"prod","dryRun":true})',
        '✓ deploy_frontend({"env":"prod","dryRun":true})',
        "auto-approved in this demo",
        '✓ deploy_lambda({"env":"prod"})',
        '✓ deploy_lambda({"env":"prod","confirmationToken":',
        '✓ deploy_frontend({"env":"prod"})',
        '✓ deploy_frontend({"env":"prod","confirmationToken":',
        '✓ health_check({"env":"prod"})',
        '✓ tail_logs({"env":"prod"',
        '✓ deploy_status({"env":"prod"})',
        "— report —",
        "## /deploy all → prod: deployed",
      ]);
      expect(
        steps.filter(([, at]) => at < 0).map(([step]) => step),
        output,
      ).toEqual([]);
      // Nothing is applied to infra without --apply, and the plan had no changes.
      expect(flow).not.toContain("terraform_apply(");

      // The report's rollback lines: exact CLI commands back to the 1.0.0 releases.
      const lines = [...flow.matchAll(/^ {2}(npx vyaparai-deploy rollback .*)$/gm)].map(
        (m) => m[1] as string,
      );
      const earlier = (component: string) =>
        new RegExp(`^ {2}${component} +1\\.0\\.0 deployed, release (\\S+)$`, "m").exec(output)?.[1];
      expect(lines).toEqual([
        `npx vyaparai-deploy rollback --env prod --component lambda --to ${earlier("lambda")}`,
        `npx vyaparai-deploy rollback --env prod --component frontend --to ${earlier("frontend")}`,
      ]);
      expect(lines.join("\n")).not.toContain("$LATEST");

      // Each was run through the built CLI (both confirmation steps) and read back.
      for (const line of lines) expect(output, output).toContain(`✓ rollback line works: ${line}`);
      expect(output).not.toContain("✗ rollback line");
    },
    240_000,
  );
});
