import { describe, expect, it } from "vitest";
import { runCommand } from "../src/core/run-command.js";

describe("runCommand", () => {
  it("streams lines and keeps the tail and exit code", async () => {
    const lines: string[] = [];
    const result = await runCommand("echo one; echo two >&2; exit 3", {
      cwd: "/tmp",
      onLine: (l) => lines.push(l),
    });
    expect(result.exitCode).toBe(3);
    expect(lines).toEqual(["one", "two"]);
    expect(result.tail).toContain("two");
  });

  it("redacts the output before cutting its tail: a key block that starts before the kept part is hidden", async () => {
    // 60 lines of key body after the BEGIN line: the kept 300 characters hold only body lines
    // and the END line, which no rule would match on their own.
    const body = Array.from(
      { length: 60 },
      (_, i) => `MIIEvQIBADANBgkqhkiG9w0BAQEFAASC${String(i).padStart(4, "0")}`,
    );
    const script = ["-----BEGIN PRIVATE KEY-----", ...body, "-----END PRIVATE KEY-----", "done"]
      .map((line) => `echo '${line}'`)
      .join("; ");
    const result = await runCommand(script, { cwd: "/tmp", tailBytes: 300 });
    expect(result.tail.length).toBeLessThanOrEqual(301);
    expect(result.tail).toContain("done");
    expect(result.tail).not.toMatch(/MIIEvQIBADANBgkq/);
    expect(result.tail).toContain("[REDACTED]");
  });

  it("a timeout stops the whole process group, not only the shell", async () => {
    // `sleep 30; echo` keeps dash alive with sleep as its child: killing only the shell
    // would leave the call waiting for sleep's 30 s.
    const result = await runCommand("sleep 30; echo done", { cwd: "/tmp", timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(result.tail).not.toContain("done");
    expect(result.durationMs).toBeLessThan(10_000);
  });

  // SIGUSR1 stands in for terraform's SIGINT: a process started from a background job
  // inherits SIGINT as ignored, which would make this test depend on how it was launched.
  it("cancellation stops the process group with the requested signal first", async () => {
    const controller = new AbortController();
    const pending = runCommand(
      [
        process.execPath,
        "-e",
        "process.on('SIGUSR1', () => { console.log('got-usr1'); process.exit(9); }); console.log('ready'); setInterval(() => {}, 1000);",
      ],
      {
        cwd: "/tmp",
        signal: controller.signal,
        killSignal: "SIGUSR1",
        onLine: (line) => {
          if (line === "ready") controller.abort();
        },
      },
    );
    const result = await pending;
    expect(result.cancelled).toBe(true);
    expect(result.tail).toContain("got-usr1");
  });
});
