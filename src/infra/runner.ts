import type { ProgressReporter } from "../core/context.js";
import { CancelledError } from "../core/errors.js";
import type { RunResult } from "../core/run-command.js";
import type { TerraformBinary } from "./binary.js";
import type { InfraDeps } from "./deps.js";
import type { PlanStore } from "./plan-store.js";

/** Where and how terraform runs for one env. */
export interface TerraformWorkspace {
  binary: TerraformBinary;
  /** Real path of the configuration (`<appRoot>/<terraform.dir>`), checked to be inside the app root. */
  dir: string;
  /**
   * Absolute TF_DATA_DIR for this env. Safety: each env gets its own, so a prod plan can
   * never run against the backend a dev init configured, and switching envs needs no
   * `init -reconfigure` flip-flop in a shared `.terraform/`.
   */
  dataDir: string;
  /** This env's folder of saved plans, private to the user and outside the repo (plan-store.ts). */
  plans: PlanStore;
}

export interface TerraformRun extends RunResult {
  /** The subcommand, for messages ("plan", "apply", …). */
  subcommand: string;
}

const OUTPUT_TAIL_BYTES = 16_000;
/** Long runs can print thousands of lines; progress only needs a heartbeat with the latest. */
const PROGRESS_LINE_MAX = 200;

/**
 * Runs one terraform subcommand non-interactively in the workspace, streaming its output
 * lines as progress. Cancellation sends SIGINT first so terraform stops gracefully and
 * releases the state lock it holds (SIGKILL only follows if it does not exit).
 */
export async function runTerraform(
  deps: Pick<InfraDeps, "run" | "signal" | "progress" | "env" | "credentials">,
  workspace: TerraformWorkspace,
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<TerraformRun> {
  const [subcommand = "", ...rest] = args;
  const argv = [workspace.binary.command, subcommand, ...rest];
  const report = progressFor(deps.progress, subcommand);
  const result = await deps.run(argv, {
    cwd: workspace.dir,
    signal: deps.signal,
    killSignal: "SIGINT",
    tailBytes: OUTPUT_TAIL_BYTES,
    onLine: report,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    env: {
      TF_IN_AUTOMATION: "1",
      TF_INPUT: "0",
      TF_DATA_DIR: workspace.dataDir,
      // The env's profile reaches the S3 backend the same way it reaches our SDK clients,
      // unless the person already chose one explicitly.
      ...(deps.credentials
        ? // Safety: as the deploy role, terraform gets the role's keys and no profile to prefer over them.
          {
            AWS_ACCESS_KEY_ID: deps.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: deps.credentials.secretAccessKey,
            AWS_SESSION_TOKEN: deps.credentials.sessionToken,
            AWS_PROFILE: undefined,
          }
        : deps.env.profile && !process.env.AWS_PROFILE
          ? { AWS_PROFILE: deps.env.profile }
          : {}),
    },
  });
  if (result.cancelled) {
    throw new CancelledError(
      `terraform ${subcommand} was cancelled (sent SIGINT so it could release its state lock). Check the state with terraform_plan before retrying.`,
    );
  }
  return { ...result, subcommand };
}

function progressFor(progress: ProgressReporter, subcommand: string): (line: string) => void {
  return (line) => {
    const text = line.trim();
    if (!text) return;
    progress(`terraform ${subcommand}: ${text.slice(0, PROGRESS_LINE_MAX)}`);
  };
}
