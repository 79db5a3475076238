import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeCounts, parseTestCounts } from "../../src/preflight/test-results.js";

/** Runs a command and returns its combined output whatever the exit code. */
function outputOf(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return `${failed.stdout ?? ""}${failed.stderr ?? ""}`;
  }
}

describe("parseTestCounts on literal summaries", () => {
  it("reads pytest -q and the ruled form", () => {
    expect(parseTestCounts("....F\n5 passed, 1 failed in 0.1s\n")).toMatchObject({
      format: "pytest",
      passed: 5,
      failed: 1,
      total: 6,
    });
    expect(
      parseTestCounts("===== 1 failed, 40 passed, 2 skipped, 1 error, 3 warnings in 2.31s (0:00:02) =====\n"),
    ).toMatchObject({ format: "pytest", passed: 40, failed: 1, skipped: 2, errors: 1, total: 44 });
    expect(parseTestCounts("no tests ran in 0.01s")).toMatchObject({ format: "pytest", passed: 0, total: 0 });
  });

  it("reads node --test TAP and spec summaries", () => {
    const tap =
      "ok 1 - a\nnot ok 2 - b\n1..2\n# tests 4\n# suites 0\n# pass 3\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n# duration_ms 12.5\n";
    expect(parseTestCounts(tap)).toMatchObject({ format: "node-test", passed: 3, failed: 1, total: 4 });
    const spec = "ℹ tests 2\nℹ pass 2\nℹ fail 0\nℹ duration_ms 9\n\n✖ failing tests:\n  nothing\n";
    expect(parseTestCounts(spec)).toMatchObject({ format: "node-test", passed: 2, failed: 0 });
  });

  it("reads vitest, coloured or not, and ignores the Test Files line", () => {
    const plain =
      " Test Files  1 failed | 3 passed (4)\n      Tests  2 failed | 10 passed (12)\n   Duration  1.2s\n";
    expect(parseTestCounts(plain)).toMatchObject({ format: "vitest", passed: 10, failed: 2, total: 12 });
    const coloured =
      "\u001b[2m      Tests \u001b[22m \u001b[1m\u001b[31m1 failed\u001b[39m\u001b[22m\u001b[2m | \u001b[22m\u001b[1m\u001b[32m1 passed\u001b[39m\u001b[22m\u001b[2m | \u001b[22m\u001b[33m1 skipped\u001b[39m\u001b[90m (3)\u001b[39m\n";
    expect(parseTestCounts(coloured)).toMatchObject({ passed: 1, failed: 1, skipped: 1, total: 3 });
  });

  it("reads the plain 'N passed, N failed' form and jest's", () => {
    expect(parseTestCounts("done: 7 passed, 2 failed\n")).toMatchObject({
      format: "generic",
      passed: 7,
      failed: 2,
    });
    expect(parseTestCounts("Tests:       1 failed, 5 passed, 6 total\n")).toMatchObject({
      passed: 5,
      failed: 1,
    });
  });

  it("takes the last summary and returns null when there is none", () => {
    expect(parseTestCounts("1 passed in 0.1s\n...\n2 failed, 3 passed in 0.2s\n")).toMatchObject({
      passed: 3,
      failed: 2,
    });
    expect(parseTestCounts("Segmentation fault\n")).toBeNull();
    expect(parseTestCounts("")).toBeNull();
  });

  it("describes counts without any other output", () => {
    expect(describeCounts({ format: "pytest", passed: 5, failed: 1, skipped: 2, errors: 1, total: 9 })).toBe(
      "1 failed, 1 error, 5 passed, 2 skipped",
    );
  });
});

describe("parseTestCounts on real runner output", () => {
  const dir = mkdtempSync(join(tmpdir(), "vyaparai-test-results-"));

  it("node --test", () => {
    writeFileSync(
      join(dir, "sample.test.mjs"),
      'import test from "node:test";\nimport assert from "node:assert";\ntest("a", () => {});\ntest("b", () => {});\ntest("c", () => { assert.equal(1, 2); });\n',
    );
    const counts = parseTestCounts(outputOf(process.execPath, ["--test", "sample.test.mjs"], dir));
    expect(counts).toMatchObject({ format: "node-test", passed: 2, failed: 1, total: 3 });
  });

  it("pytest", () => {
    writeFileSync(
      join(dir, "test_sample.py"),
      "import pytest\n\ndef test_a():\n    pass\n\ndef test_b():\n    assert 1 == 2\n\n@pytest.mark.skip\ndef test_c():\n    pass\n",
    );
    const output = outputOf(
      "python3",
      ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sample.py"],
      dir,
    );
    expect(parseTestCounts(output)).toMatchObject({ format: "pytest", passed: 1, failed: 1, skipped: 1 });
  });
});
