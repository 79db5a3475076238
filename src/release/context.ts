import type { AwsClients, TemporaryCredentials } from "../aws/clients.js";
import type { Config, EnvConfig } from "../config/schema.js";
import type {
  ApprovalAnswer,
  ApprovalRequest,
  CallerIdentity,
  Clock,
  LogLevel,
  ProgressReporter,
  SessionState,
  TokenSigner,
} from "../core/context.js";
import type { CommandRunner } from "../core/run-command.js";

/**
 * The call context: what one tool call may use, built per call by the invocation wrapper.
 * It lives here, above config and aws, because it is made of them; domain code below the
 * tools never takes it whole (the architecture test says so).
 */
export interface ToolContext {
  readonly toolName: string;
  readonly envName: string;
  readonly env: EnvConfig;
  /**
   * Why `env` is protected (config sources, shared targets, tags), in the server's words;
   * empty when it is not. The approval question states them.
   */
  readonly protectedBy?: readonly string[];
  readonly config: Config;
  readonly appRoot: string;
  /** The config file in use; null when only the built-in defaults apply. */
  readonly configPath: string | null;
  readonly aws: AwsClients;
  readonly signal: AbortSignal;
  readonly progress: ProgressReporter;
  readonly log: (level: LogLevel, message: string) => void;
  /** Asks a person (MCP form elicitation); null when the client cannot ask. */
  readonly askPerson: ((request: ApprovalRequest) => Promise<ApprovalAnswer>) | null;
  readonly now: Clock;
  readonly run: CommandRunner;
  readonly tokens: TokenSigner;
  readonly session: SessionState;
  identity(): Promise<CallerIdentity>;
  /**
   * Set when this call runs as the env's deploy role: the release takes `sessionName` as its
   * id and records the role, so CloudTrail and the record name the same release and person.
   */
  readonly deployRole?: DeployRoleSession;
  /**
   * The role's temporary credentials, for child processes that talk to AWS themselves
   * (terraform). In memory for this call only.
   */
  readonly roleCredentials?: TemporaryCredentials;
  /**
   * True when the process keeps running after this call answers (the MCP server), so a
   * release may continue in the background; false in the CLI, which exits after its answer.
   */
  readonly outlivesAnswer: boolean;
  /**
   * What the tool's `prefetch` started while the env's protection was read (tools/definition.ts):
   * reads that depend on neither protection nor the deploy role. The handler checks what it is.
   */
  readonly prefetched?: Promise<unknown> | undefined;
}

export interface DeployRoleSession {
  roleArn: string;
  /** The release id the role session is named after. */
  sessionName: string;
  sourceIdentity: string;
  mfaSerial: string | null;
}
