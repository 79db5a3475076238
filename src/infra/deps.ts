import type { TemporaryCredentials } from "../aws/clients.js";
import type { EnvConfig } from "../config/schema.js";
import type { Clock, ProgressReporter } from "../core/context.js";
import type { CommandRunner } from "../core/run-command.js";

/**
 * What the terraform code uses, and nothing more: the env's terraform settings (and its AWS
 * profile, which terraform's S3 backend reads the same way our SDK clients do), where the
 * app lives, which resource types hold data, a process runner, cancellation, progress and a
 * clock. The tools build it from one call's context; terraform itself talks to AWS, so no
 * SDK client is needed here.
 */
export interface InfraDeps {
  envName: string;
  env: Pick<EnvConfig, "terraform" | "profile">;
  appRoot: string;
  /** Terraform types whose delete/replace destroys data (config `statefulTypes`). */
  statefulTypes: readonly string[];
  run: CommandRunner;
  signal: AbortSignal;
  progress: ProgressReporter;
  now: Clock;
  /** The deploy role's credentials when the call runs as it: terraform then runs as the role too. */
  credentials?: TemporaryCredentials | undefined;
}
