import { redactTail } from "./redact.js";

export interface RunOptions {
  cwd: string;
  /** Kill after this many ms (SIGTERM, then SIGKILL 5 s later). */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  env?: Record<string, string | undefined>;
  /** Called with each line of combined stdout/stderr as it arrives. */
  onLine?: (line: string) => void;
  /** Signal sent first on cancellation/timeout; terraform wants SIGINT to release its lock. */
  killSignal?: NodeJS.Signals;
  /** Bytes of output tail kept. */
  tailBytes?: number;
}

export interface RunResult {
  exitCode: number | null;
  /** Last `tailBytes` characters of the interleaved output, redacted (untrusted text). */
  tail: string;
  stdout: string;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
}

/** Runs `command` through a shell (config commands are shell strings) or an argv array. */
export type CommandRunner = (command: string | string[], options: RunOptions) => Promise<RunResult>;

export const runCommand: CommandRunner = async (command, options) => {
  // Lazy: execa is only needed once a command runs, not at server start-up.
  const { execa } = await import("execa");
  const started = performance.now();
  const tailBytes = options.tailBytes ?? 8_000;
  // Safety: the tail is cut only after redaction, from a raw window several times longer,
  // so a key block that starts before the kept part is still seen whole.
  const windowChars = tailBytes * 4;
  let window = "";
  const keep = (chunk: string) => {
    window = (window + chunk).slice(-windowChars);
  };
  const killSignal = options.killSignal ?? "SIGTERM";
  const common = {
    cwd: options.cwd,
    reject: false,
    all: true,
    buffer: { stdout: true, stderr: false, all: false },
    stdin: "ignore" as const,
    env: options.env,
    extendEnv: true,
    // Own process group: `sh -c` (dash) forks the real program instead of exec-ing it, so
    // stopping only the shell would leave the test runner or terraform running.
    detached: true,
    maxBuffer: 64 * 1024 * 1024,
  };
  const child = Array.isArray(command)
    ? execa(command[0] as string, command.slice(1), common)
    : execa(command, { ...common, shell: true });
  let timedOut = false;
  let cancelled = false;
  let forceKill: NodeJS.Timeout | undefined;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const stop = (reason: "timeout" | "cancel") => {
    if (timedOut || cancelled) return;
    if (reason === "timeout") timedOut = true;
    else cancelled = true;
    // First the polite signal (terraform needs SIGINT to release its state lock), then force.
    signalGroup(killSignal);
    forceKill = setTimeout(() => signalGroup("SIGKILL"), 5_000);
  };
  const timer = options.timeoutMs ? setTimeout(() => stop("timeout"), options.timeoutMs) : undefined;
  const onAbort = () => stop("cancel");
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  let partial = "";
  child.all?.on("data", (data: Buffer) => {
    const text = data.toString("utf8");
    keep(text);
    if (!options.onLine) return;
    const lines = (partial + text).split(/\r?\n/);
    partial = lines.pop() ?? "";
    for (const line of lines) options.onLine(line);
  });
  const result = await child;
  clearTimeout(timer);
  clearTimeout(forceKill);
  options.signal?.removeEventListener("abort", onAbort);
  if (partial && options.onLine) options.onLine(partial);
  return {
    exitCode: result.exitCode ?? null,
    tail: redactTail(window, tailBytes),
    stdout: typeof result.stdout === "string" ? result.stdout : "",
    timedOut,
    cancelled,
    durationMs: Math.round(performance.now() - started),
  };
};
