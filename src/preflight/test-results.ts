/**
 * Pass/fail counts read from a test runner's output. The output is untrusted text: we only
 * extract numbers from it, so a preflight's detail and summary can say "3 failed, 40 passed"
 * without ever quoting what the tests printed.
 */
export type TestOutputFormat = "pytest" | "node-test" | "vitest" | "generic";

export interface TestCounts {
  format: TestOutputFormat;
  passed: number;
  failed: number;
  skipped: number;
  /** pytest collection/fixture errors; counted apart from failures because pytest does. */
  errors: number;
  /** As reported by the runner when it says so, else the sum of the counts. */
  total: number;
}

// Colour codes and other CSI sequences: vitest colours its summary even without a TTY.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is exactly what we strip.
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/**
 * Reads the counts of the LAST summary in `output` (a runner prints its summary at the end;
 * earlier numbers may come from nested runs or from test names). Returns null when no known
 * summary is present.
 */
export function parseTestCounts(output: string): TestCounts | null {
  const lines = stripAnsi(output).split(/\r?\n/);
  return parseVitest(lines) ?? parseNodeTest(lines) ?? parsePytest(lines) ?? parseGeneric(lines);
}

/** vitest: ` Tests  2 failed | 10 passed | 1 skipped (13)` (not the `Test Files` line). */
function parseVitest(lines: string[]): TestCounts | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = /^\s*Tests\s+((?:\d+ [a-z]+(?:\s*\|\s*)?)+)\s*\((\d+)\)\s*$/.exec(lines[i] ?? "");
    if (!match) continue;
    const counts = countWords(match[1] ?? "");
    return finish("vitest", counts, Number(match[2]));
  }
  return null;
}

/** node --test: TAP `# pass 3` / `# fail 1` or the spec reporter's `ℹ pass 3`. */
function parseNodeTest(lines: string[]): TestCounts | null {
  const values = new Map<string, number>();
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = /^\s*(?:#|ℹ)\s+(tests|pass|fail|skipped|todo|cancelled)\s+(\d+)\s*$/.exec(lines[i] ?? "");
    if (!match) {
      // The summary block is contiguous; stop at the first other line once we are inside it.
      if (values.size > 0 && !/^\s*(?:#|ℹ)\s+\w+\s+[\d.]+\s*$/.test(lines[i] ?? "")) break;
      continue;
    }
    const key = match[1] as string;
    if (!values.has(key)) values.set(key, Number(match[2]));
  }
  if (!values.has("pass") && !values.has("fail")) return null;
  const failed = (values.get("fail") ?? 0) + (values.get("cancelled") ?? 0);
  return finish(
    "node-test",
    {
      passed: values.get("pass") ?? 0,
      failed,
      skipped: (values.get("skipped") ?? 0) + (values.get("todo") ?? 0),
    },
    values.get("tests"),
  );
}

/**
 * pytest: `1 failed, 5 passed, 2 skipped in 0.12s`, with or without the `====` rule, and
 * `no tests ran in 0.01s`.
 */
function parsePytest(lines: string[]): TestCounts | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] ?? "").replace(/^=+\s*|\s*=+$/g, "").trim();
    if (/^no tests ran in [\d.]+s/.test(line)) return finish("pytest", {}, 0);
    const match = /^((?:\d+ [a-z]+,?\s*)+) in [\d.]+s(?:\s*\([^)]*\))?$/.exec(line);
    if (!match) continue;
    return finish("pytest", countWords(match[1] ?? ""));
  }
  return null;
}

/** Anything else that says `N passed` and/or `N failed` on one line (jest, mocha, custom scripts). */
function parseGeneric(lines: string[]): TestCounts | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? "";
    if (!/\b\d+\s+(?:passed|passing|failed|failing)\b/i.test(line)) continue;
    return finish("generic", countWords(line));
  }
  return null;
}

interface PartialCounts {
  passed?: number;
  failed?: number;
  skipped?: number;
  errors?: number;
}

function countWords(text: string): PartialCounts {
  const counts: Required<PartialCounts> = { passed: 0, failed: 0, skipped: 0, errors: 0 };
  for (const match of text.matchAll(/(\d+)\s+([a-z]+)/gi)) {
    const n = Number(match[1]);
    const word = (match[2] ?? "").toLowerCase();
    if (word === "passed" || word === "passing" || word === "xpassed") counts.passed += n;
    else if (word === "failed" || word === "failing") counts.failed += n;
    else if (word === "skipped" || word === "pending" || word === "todo" || word === "xfailed")
      counts.skipped += n;
    else if (word === "error" || word === "errors") counts.errors += n;
  }
  return counts;
}

function finish(format: TestOutputFormat, counts: PartialCounts, total?: number): TestCounts {
  const passed = counts.passed ?? 0;
  const failed = counts.failed ?? 0;
  const skipped = counts.skipped ?? 0;
  const errors = counts.errors ?? 0;
  return { format, passed, failed, skipped, errors, total: total ?? passed + failed + skipped + errors };
}

/** "1 failed, 5 passed, 2 skipped" — the only form in which test output reaches a summary. */
export function describeCounts(counts: TestCounts): string {
  const parts: string[] = [];
  if (counts.failed) parts.push(`${counts.failed} failed`);
  if (counts.errors) parts.push(`${counts.errors} error${counts.errors === 1 ? "" : "s"}`);
  parts.push(`${counts.passed} passed`);
  if (counts.skipped) parts.push(`${counts.skipped} skipped`);
  return parts.join(", ");
}
