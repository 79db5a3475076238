import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { CancelledError } from "../core/errors.js";
import { redactText } from "../core/redact.js";
import { commandProgram } from "./binaries.js";
import type { PreflightDeps } from "./deps.js";
import { describeCounts, parseTestCounts, stripAnsi } from "./test-results.js";
import type { PreflightCheck } from "./types.js";

/** Output kept from the runner (enough to hold any runner's summary block). */
const RUNNER_TAIL_BYTES = 32_000;
/** Output returned to the caller: the last lines, bounded in lines and characters. */
const OUTPUT_TAIL_CHARS = 4_000;
const OUTPUT_TAIL_LINES = 60;
const PROGRESS_INTERVAL_MS = 1_000;
const PROGRESS_LINE_CHARS = 120;
// Control characters other than tab and newline: terminal tricks have no place in returned data.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what we remove.
const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

export type TestedPart = "backend" | "frontend";

/** What `tests:<part>` uses: the part's settings, the app root, the runner, signal and progress. */
export type TestsDeps = Pick<PreflightDeps, "appRoot" | "run" | "signal" | "progress" | "env"> & {
  config: Pick<Config, TestedPart>;
};

/**
 * `tests:<part>`: runs the configured test command in the part's folder with the configured
 * time bound, reports progress while it runs, and returns parsed counts plus the output tail.
 */
export async function checkTests(
  deps: TestsDeps,
  part: TestedPart,
  options: { skip: boolean },
): Promise<PreflightCheck> {
  const name = `tests:${part}`;
  const settings = deps.config[part];
  if (options.skip) {
    return {
      name,
      status: "warn",
      detail: `Skipped (skipTests: true): the ${part} tests did not run.`,
      remedy: "Run preflight without skipTests before deploying.",
    };
  }
  if (!settings.testCommand) {
    // Safety: a protected env ships only tested code; "no tests" cannot pass for it.
    return {
      name,
      status: deps.env.protected ? "fail" : "warn",
      detail: `No ${part} test command is configured (${part}.testCommand is null), so no tests ran${deps.env.protected ? `; a protected env needs tests` : ""}.`,
      remedy: `Set ${part}.testCommand in deploy.config.json (e.g. "${part === "backend" ? "python3 -m pytest -q" : "npm test"}").`,
    };
  }
  const cwd = resolve(deps.appRoot, settings.dir);
  if (!existsSync(cwd) || !statSync(cwd).isDirectory()) {
    return {
      name,
      status: "fail",
      detail: `The ${part} folder ${cwd} does not exist, so its tests cannot run.`,
      remedy: `Set ${part}.dir in deploy.config.json to the ${part}'s folder (relative to ${deps.appRoot}).`,
    };
  }

  const timeoutSeconds = settings.testTimeoutSeconds;
  const progress = lineProgress(deps, name);
  const result = await deps.run(execSimpleCommand(settings.testCommand), {
    cwd,
    timeoutMs: timeoutSeconds * 1000,
    signal: deps.signal,
    // CI=true keeps runners (vitest, jest, CRA) out of watch mode; colour codes would only
    // get in the way of parsing and of reading the tail.
    env: { CI: "true", NO_COLOR: "1", FORCE_COLOR: "0" },
    onLine: progress,
    tailBytes: RUNNER_TAIL_BYTES,
  });
  if (result.cancelled || deps.signal.aborted) throw new CancelledError();

  const counts = parseTestCounts(result.tail) ?? parseTestCounts(result.stdout);
  const output = boundedTail(result.tail);
  const base = {
    name,
    output,
    durationMs: result.durationMs,
    ...(counts ? { testCounts: omitFormat(counts) } : {}),
  };
  const countText = counts ? describeCounts(counts) : "no pass/fail summary found in the output";
  const seconds = (result.durationMs / 1000).toFixed(1);

  if (result.timedOut) {
    return {
      ...base,
      status: "fail",
      detail: `\`${settings.testCommand}\` timed out after ${timeoutSeconds} s and was stopped (${countText} so far).`,
      remedy: `Find the slow or hanging test (see output), or raise ${part}.testTimeoutSeconds in deploy.config.json.`,
    };
  }
  if (result.exitCode === 127) {
    return {
      ...base,
      status: "fail",
      detail: `\`${settings.testCommand}\` could not start: the shell did not find its program (exit 127).`,
      remedy: `Install the test runner or fix ${part}.testCommand in deploy.config.json.`,
    };
  }
  if (result.exitCode !== 0) {
    const noTests = result.exitCode === 5 && counts?.format === "pytest" && counts.total === 0;
    return {
      ...base,
      status: "fail",
      detail: noTests
        ? `\`${settings.testCommand}\` collected no tests (pytest exit 5).`
        : `\`${settings.testCommand}\` failed with exit code ${result.exitCode ?? "unknown"} in ${seconds} s: ${countText}.`,
      remedy: noTests
        ? `Check ${part}.dir and ${part}.testCommand point at the test suite.`
        : `Fix the failing ${part} tests (see output; run \`${settings.testCommand}\` in ${settings.dir}/), then rerun preflight.`,
    };
  }
  // Safety: a runner that exits 0 while reporting failures (a misconfigured wrapper script)
  // must not pass.
  if (counts && (counts.failed > 0 || counts.errors > 0)) {
    return {
      ...base,
      status: "fail",
      detail: `\`${settings.testCommand}\` exited 0 but reported ${countText}.`,
      remedy: `Make ${part}.testCommand exit non-zero on failure and fix the failing tests.`,
    };
  }
  if (counts && counts.passed === 0) {
    return {
      ...base,
      status: "warn",
      detail: `\`${settings.testCommand}\` passed but ran no tests (${countText}).`,
      remedy: `Check that ${part}.testCommand runs the ${part}'s test suite.`,
    };
  }
  return {
    ...base,
    status: "pass",
    detail: `\`${settings.testCommand}\` passed in ${seconds} s: ${countText}.`,
  };
}

/**
 * `exec cmd` for a single simple command. Why: /bin/sh (dash) forks the program of `sh -c
 * "cmd"` instead of replacing itself, and a timeout or cancellation signals only the shell,
 * leaving the test runner running and the call waiting for it. With `exec`, the signal
 * reaches the runner itself. Commands with operators, redirections or substitutions are left
 * as written.
 */
export function execSimpleCommand(command: string): string {
  const trimmed = command.trim();
  if (/[;&|<>()`$\\\n]/.test(trimmed)) return command;
  const program = commandProgram(trimmed);
  const first = trimmed.split(/\s+/)[0] ?? "";
  // Only when the first word is the program itself (no VAR=value prefix, no builtin).
  if (!program || program !== first.replace(/^["']|["']$/g, "") || program === "env") return command;
  return `exec ${trimmed}`;
}

/**
 * Progress per output line, at most one notification a second. The line is redacted and
 * shortened here because progress messages do not go through the result's redaction.
 */
function lineProgress(deps: Pick<TestsDeps, "progress">, name: string): (line: string) => void {
  let lines = 0;
  let lastSent = Number.NEGATIVE_INFINITY;
  return (line) => {
    lines++;
    const now = performance.now();
    if (now - lastSent < PROGRESS_INTERVAL_MS) return;
    lastSent = now;
    const shown = redactText(stripAnsi(line).replace(CONTROL_CHARS, " ").trim()).slice(
      0,
      PROGRESS_LINE_CHARS,
    );
    deps.progress(`${name}: ${lines} line(s) of output${shown ? ` — ${shown}` : ""}`);
  };
}

/**
 * The last lines of the output, bounded. Cuts are made at line starts so that no secret is
 * split in half: a partial key would no longer match the redaction patterns.
 */
export function boundedTail(text: string): string {
  let lines = stripAnsi(text).replace(CONTROL_CHARS, "").split("\n");
  // A full runner tail was cut at an arbitrary character: its first line may be a fragment.
  if (text.length >= RUNNER_TAIL_BYTES) lines = lines.slice(1);
  let tail = lines.slice(-OUTPUT_TAIL_LINES).join("\n");
  if (tail.length > OUTPUT_TAIL_CHARS) {
    const cut = tail.slice(-OUTPUT_TAIL_CHARS);
    const lineStart = cut.indexOf("\n");
    const wordStart = cut.search(/\s/);
    tail = lineStart >= 0 ? cut.slice(lineStart + 1) : wordStart >= 0 ? cut.slice(wordStart + 1) : "";
  }
  return redactText(tail);
}

function omitFormat<T extends { format: unknown }>(counts: T): Omit<T, "format"> {
  const { format: _format, ...rest } = counts;
  return rest;
}
