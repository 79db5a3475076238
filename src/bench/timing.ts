import { execa } from "execa";

/** Wall time of `work` in milliseconds, with its result. */
export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

/**
 * Runs a baseline program (aws, zip) and returns its wall time and stdout; a failure is a
 * bench error with the program's own message, never a number.
 */
export async function timedProgram(
  file: string,
  args: string[],
  options: { env: Record<string, string>; cwd?: string },
): Promise<{ ms: number; stdout: string }> {
  const { ms, value } = await timed(() =>
    execa(file, args, {
      env: options.env,
      extendEnv: false,
      cwd: options.cwd,
      reject: false,
      stdin: "ignore",
      maxBuffer: 512 * 1024 * 1024,
    }),
  );
  if (value.exitCode !== 0)
    throw new Error(
      `${file} ${args.join(" ")} failed with exit code ${value.exitCode}: ${String(value.stderr).slice(-1500)}`,
    );
  return { ms, stdout: String(value.stdout) };
}

/** The aws CLI through the bench's network proxy: the same link our server goes through. */
export async function awsCli(
  ctx: { programs: { aws: string }; proxy: { endpoint: string }; env: Record<string, string> },
  args: string[],
  options: { cwd?: string; binary?: string } = {},
): Promise<{ ms: number; stdout: string }> {
  return timedProgram(options.binary ?? ctx.programs.aws, [...args, "--endpoint-url", ctx.proxy.endpoint], {
    env: ctx.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
}
