import { join } from "node:path";
import { DeployError } from "../../core/errors.js";
import { quote } from "../../core/quote.js";
import type { FrontendDeps } from "./deps.js";

export interface BuildResult {
  command: string;
  durationMs: number;
}

const OUTPUT_TAIL_BYTES = 4_000;

/**
 * Runs `frontend.buildCommand` in the frontend folder, streaming its lines as progress (which
 * also keeps the client's idle timer alive during a long Vite build). A failure carries the
 * output tail in its own field: build output is text anyone could have written.
 */
export async function buildFrontend(
  ctx: Pick<FrontendDeps, "frontend" | "appRoot" | "run" | "signal" | "progress">,
): Promise<BuildResult | null> {
  const command = ctx.frontend.buildCommand;
  if (!command) return null;
  const cwd = join(ctx.appRoot, ctx.frontend.dir);
  const timeoutMs = ctx.frontend.buildTimeoutSeconds * 1000;
  ctx.progress(`Building the frontend: ${command}`);
  let lastLine = 0;
  const result = await ctx.run(command, {
    cwd,
    timeoutMs,
    signal: ctx.signal,
    tailBytes: OUTPUT_TAIL_BYTES,
    onLine: (line) => {
      const now = Date.now();
      if (!line.trim() || now - lastLine < 200) return;
      lastLine = now;
      ctx.progress(`build: ${quote(line, 160)}`);
    },
  });
  if (result.cancelled) throw new DeployError("CANCELLED", "The build was cancelled; nothing was uploaded.");
  if (result.timedOut || result.exitCode !== 0) {
    const why = result.timedOut
      ? `timed out after ${ctx.frontend.buildTimeoutSeconds} s`
      : `exited with code ${result.exitCode}`;
    throw new DeployError(
      "TOOL_FAILED",
      `The frontend build (\`${command}\` in ${ctx.frontend.dir}) ${why}; nothing was uploaded. Fix the build (see buildOutputTail), or raise frontend.buildTimeoutSeconds if it is just slow.`,
      // The runner's tail is already redacted whole, then cut.
      { detail: { buildOutputTail: result.tail } },
    );
  }
  return { command, durationMs: result.durationMs };
}
