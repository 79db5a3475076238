import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { BUILT_SERVER } from "../support/stdio.js";

/**
 * The built stdio server driven line by line, as a careless client would write to it. The SDK
 * client is not used on purpose: it cannot send 1e400, duplicate keys or a half-written line,
 * and it hides how many answers an id got and how many bytes they were.
 */

export type RequestId = string | number;

export interface ReceivedLine {
  /** The line as written by the server (without the newline). */
  line: string;
  bytes: number;
  message: {
    id?: unknown;
    method?: string;
    result?: { isError?: boolean; content?: Array<{ type?: string; text?: string }> } & Record<
      string,
      unknown
    >;
    error?: { code?: number; message?: string };
  };
}

export type Outcome =
  | { kind: "answer"; answer: ReceivedLine; ms: number }
  | { kind: "timeout"; ms: number }
  | { kind: "exited"; ms: number };

/** Map key of an id: 1 and "1" are different ids. */
export function idKey(id: unknown): string {
  return JSON.stringify(id) ?? "undefined";
}

export class RawServer {
  readonly received: ReceivedLine[] = [];
  /** stdout lines that were not JSON: each one breaks the protocol for every client. */
  readonly garbage: string[] = [];
  private readonly byId = new Map<string, ReceivedLine[]>();
  private readonly waiters = new Map<string, Array<(line: ReceivedLine | null) => void>>();
  private stderrText = "";
  private exit: { code: number | null; signal: string | null } | null = null;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    let pending = "";
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
        this.onLine(pending.slice(0, end));
        pending = pending.slice(end + 1);
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      // Only the tail is kept: it is for the failure message.
      this.stderrText = (this.stderrText + chunk.toString("utf8")).slice(-8_000);
    });
    child.on("exit", (code, signal) => {
      this.exit = { code, signal };
      for (const list of this.waiters.values()) for (const wake of list) wake(null);
      this.waiters.clear();
    });
    // A write after the server died must not kill the test process with EPIPE.
    child.stdin.on("error", () => {});
  }

  /** Spawns dist/main.js in `cwd` and does the MCP handshake. */
  static async start(options: {
    cwd: string;
    env: Record<string, string>;
    args?: string[];
  }): Promise<RawServer> {
    if (!existsSync(BUILT_SERVER)) throw new Error(`${BUILT_SERVER} is missing: run npm run build first.`);
    const child = spawn(process.execPath, [BUILT_SERVER, ...(options.args ?? [])], {
      cwd: options.cwd,
      env: { ...(process.env as Record<string, string>), ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const server = new RawServer(child);
    const init = await server.request(
      "init",
      JSON.stringify({
        jsonrpc: "2.0",
        id: "init",
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "vyaparai-fuzz", version: "0" },
        },
      }),
      20_000,
    );
    if (init.kind !== "answer" || !init.answer.message.result) {
      throw new Error(`the server did not initialize (${init.kind}); stderr: ${server.stderr()}`);
    }
    server.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
    return server;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The process is still running (no exit event, and signal 0 reaches it). */
  alive(): boolean {
    if (this.exit !== null || this.child.pid === undefined) return false;
    try {
      process.kill(this.child.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  exitStatus(): string {
    return this.exit ? `exited with code ${this.exit.code} signal ${this.exit.signal}` : "running";
  }

  stderr(): string {
    return this.stderrText;
  }

  write(data: string | Buffer): void {
    if (this.exit === null) this.child.stdin.write(data);
  }

  answersFor(id: unknown): ReceivedLine[] {
    return this.byId.get(idKey(id)) ?? [];
  }

  /** Writes `line` plus a newline and waits for the first answer carrying `id`. */
  request(id: RequestId, line: string, timeoutMs: number): Promise<Outcome> {
    const answered = this.waitFor(id, timeoutMs);
    this.write(`${line}\n`);
    return answered;
  }

  /** The first answer to `id` (already received or still to come), bounded by `timeoutMs`. */
  waitFor(id: RequestId, timeoutMs: number): Promise<Outcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const already = this.answersFor(id)[0];
    if (already) return Promise.resolve({ kind: "answer", answer: already, ms: 0 });
    if (this.exit !== null) return Promise.resolve({ kind: "exited", ms: 0 });
    return new Promise((resolve) => {
      const key = idKey(id);
      const wake = (line: ReceivedLine | null) => {
        clearTimeout(timer);
        resolve(line ? { kind: "answer", answer: line, ms: elapsed() } : { kind: "exited", ms: elapsed() });
      };
      // The hang bound: a request still unanswered after this long counts as a hang.
      const timer = setTimeout(() => {
        const list = this.waiters.get(key) ?? [];
        this.waiters.set(
          key,
          list.filter((w) => w !== wake),
        );
        resolve({ kind: "timeout", ms: elapsed() });
      }, timeoutMs);
      this.waiters.set(key, [...(this.waiters.get(key) ?? []), wake]);
    });
  }

  /** Ends the server: stdin closes (a clean shutdown), then SIGKILL if it lingers. */
  async close(): Promise<void> {
    if (this.exit !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin.end();
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  }

  private onLine(line: string): void {
    let message: ReceivedLine["message"];
    try {
      message = JSON.parse(line) as ReceivedLine["message"];
    } catch {
      this.garbage.push(line.slice(0, 200));
      return;
    }
    const received: ReceivedLine = { line, bytes: Buffer.byteLength(line, "utf8"), message };
    this.received.push(received);
    // Notifications (progress, log messages) carry no id; answers do, possibly null.
    if (!("id" in message) || "method" in message) return;
    const key = idKey(message.id);
    this.byId.set(key, [...(this.byId.get(key) ?? []), received]);
    const list = this.waiters.get(key);
    if (list) {
      this.waiters.delete(key);
      for (const wake of list) wake(received);
    }
  }
}

/** The text a client reads from an answer: the tool result's text, or the JSON-RPC error message. */
export function answerText(answer: ReceivedLine): string {
  const { result, error } = answer.message;
  if (error) return `${error.message ?? ""}`;
  return (result?.content ?? []).map((part) => part.text ?? "").join("\n");
}

/** An invalid call's answer is an error: a tool result with isError, or a JSON-RPC error. */
export function isErrorAnswer(answer: ReceivedLine): boolean {
  return answer.message.error !== undefined || answer.message.result?.isError === true;
}
