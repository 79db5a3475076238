import type { PreflightCheck, PreflightReport } from "../../src/preflight/types.js";

/** Shared by the preflight tests (not a test file itself). */

/** preflight's structuredContent as the tests read it: the report, or an error result's fields. */
export type Report = PreflightReport & { error?: { code: string; message: string } };

/** The check of that name; fails the test, naming the checks there are, when it is missing. */
export function check(report: Report, name: string): PreflightCheck {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no ${name} check in ${report.checks.map((c) => c.name).join(", ")}`);
  return found;
}
