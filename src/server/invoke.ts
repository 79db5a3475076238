import { resolveEnv } from "../config/load.js";
import { protectionReasonsFor } from "../config/protection.js";
import { cliCommand } from "../core/cli-command.js";
import type { ApprovalAnswer, ApprovalRequest, LogLevel, ProgressReporter } from "../core/context.js";
import { DeployError } from "../core/errors.js";
import { quote } from "../core/quote.js";
import { redactDeep, redactText } from "../core/redact.js";
import type { ToolContext } from "../release/context.js";
import { protectionFromTags } from "../release/protection-tags.js";
import { type AnyToolDefinition, isDestructive } from "../tools/definition.js";
import { strictInputOf, unknownArguments } from "../tools/strict-input.js";
import { type AskCode, withDeployRole } from "./deploy-role.js";
import type { Runtime } from "./runtime.js";

/** What the caller (MCP glue or CLI) provides to one tool call. */
export interface InvocationHooks {
  signal?: AbortSignal;
  progress?: ProgressReporter;
  log?: (level: LogLevel, message: string) => void;
  askPerson?: ((request: ApprovalRequest) => Promise<ApprovalAnswer>) | null;
  /** Asks the person for an MFA code out of the model's sight; null when it cannot. */
  askCode?: AskCode;
  /** False for a caller that exits after the answer (the CLI): no release may continue after it. */
  outlivesAnswer?: boolean;
}

export interface ToolCallResult {
  isError: boolean;
  /** True when `structured` is the tool's own output (it fits the outputSchema), also on isError. */
  complete: boolean;
  /** Complete on its own, always with `summary`; already redacted. */
  structured: Record<string, unknown>;
  /** The same JSON as text (what clients without structured content read). */
  text: string;
}

/**
 * The one path every tool call takes, from MCP or the CLI: validate arguments, resolve the
 * env, build the context, run the handler, redact, and turn any failure into an `isError`
 * result that says what to do. No tool repeats this.
 */
export async function invokeTool(
  tool: AnyToolDefinition,
  rawArgs: unknown,
  runtime: Runtime,
  hooks: InvocationHooks = {},
): Promise<ToolCallResult> {
  try {
    const args = parseArguments(tool, rawArgs);
    // A broken config file must reach the person through every call, not only a log file.
    if (runtime.configError) throw runtime.configError;
    const envName = typeof args.env === "string" ? args.env : "prod";
    const context = buildContext(tool, envName, runtime, hooks);
    // Reads that depend on neither protection nor the role go out beside the protection tags.
    const prefetched = context.env.deployRole ? undefined : tool.prefetch?.(args, context);
    // A call refused before its handler leaves no rejection unhandled.
    prefetched?.catch(() => {});
    const effective = await withEffectiveProtection(tool, { ...context, prefetched });
    const scoped = await withDeployRole({
      tool,
      args,
      ctx: effective,
      runtime,
      askCode: hooks.askCode ?? null,
      cliHint: cliCommand(tool.name, args),
    });
    let output: Awaited<ReturnType<AnyToolDefinition["handler"]>>;
    try {
      output = await tool.handler(args, scoped.ctx);
    } finally {
      scoped.close();
    }
    const structured = withConfigNote(redactDeep(output) as Record<string, unknown>, runtime);
    const isError = tool.isFailure?.(output) ?? false;
    return { isError, complete: true, structured, text: JSON.stringify(structured, null, 2) };
  } catch (error) {
    const result = errorResult(error);
    if (runtime.configError || runtime.loaded.path !== null) return result;
    const structured = withConfigNote(result.structured, runtime);
    return {
      ...result,
      structured,
      text: result.text.replace(String(result.structured.summary), String(structured.summary)),
    };
  }
}

export const BUILT_IN_DEFAULTS_NOTE =
  "Note: no deploy.config.json was found, so the built-in defaults are in use; they name VyapaarAI's real resources (run `npx vyaparai-deploy init` to create a config).";

/** With no config file, every summary says so: the defaults aim at the real production names. */
function withConfigNote(structured: Record<string, unknown>, runtime: Runtime): Record<string, unknown> {
  if (runtime.loaded.path !== null || typeof structured.summary !== "string") return structured;
  return { ...structured, summary: `${structured.summary} ${BUILT_IN_DEFAULTS_NOTE}` };
}

/** Problems named one by one up to this many; the rest are counted. */
const NAMED_PROBLEMS = 8;

export function parseArguments(tool: AnyToolDefinition, rawArgs: unknown): Record<string, unknown> {
  // Safety: an own "__proto__" key (JSON.parse makes one) is invisible to a schema; it is
  // taken out and reported with the other problems, so a call carrying it never runs.
  const proto = typeof rawArgs === "object" && rawArgs !== null && Object.hasOwn(rawArgs, "__proto__");
  const input = proto
    ? Object.fromEntries(Object.entries(rawArgs as object).filter(([key]) => key !== "__proto__"))
    : rawArgs;
  const result = strictInputOf(tool).safeParse(input ?? {});
  if (result.success && !proto) return result.data as Record<string, unknown>;
  const issues = result.success ? [] : result.error.issues;
  const problems = issues.slice(0, NAMED_PROBLEMS).map((issue) => {
    if (issue.code === "unrecognized_keys") return issue.message;
    const field = issue.path.length
      ? issue.path.map((p) => String(p).slice(0, 100)).join(".")
      : "(arguments)";
    return `${field}: ${issue.message}`;
  });
  if (issues.length > NAMED_PROBLEMS) problems.push(`and ${issues.length - NAMED_PROBLEMS} more problem(s)`);
  if (proto) problems.unshift(unknownArguments(tool.name, ["__proto__"], Object.keys(tool.inputSchema)));
  throw new DeployError(
    "INPUT_INVALID",
    `Invalid arguments for ${tool.name}: ${problems.join("; ")} Nothing was run.`,
  );
}

/** Read-only tools whose answer depends on whether the env is protected. */
const READS_PROTECTION = new Set(["preflight", "terraform_plan"]);

/**
 * The env as protected as any source makes it: the config (reasons computed at load) and, for
 * tools that change AWS or judge protection, the targets' tags read now. Protection is only
 * ever raised here.
 */
async function withEffectiveProtection(tool: AnyToolDefinition, ctx: ToolContext): Promise<ToolContext> {
  const fromConfig = protectionReasonsFor(ctx.config, ctx.envName);
  if (ctx.env.protected || !(isDestructive(tool) || READS_PROTECTION.has(tool.name))) {
    return { ...ctx, protectedBy: fromConfig };
  }
  const fromTags = await protectionFromTags(ctx);
  if (fromTags.length === 0) return { ...ctx, protectedBy: [] };
  return { ...ctx, env: { ...ctx.env, protected: true }, protectedBy: fromTags };
}

function buildContext(
  tool: AnyToolDefinition,
  envName: string,
  runtime: Runtime,
  hooks: InvocationHooks,
): ToolContext {
  const { config, appRoot, path: configPath } = runtime.loaded;
  const env = resolveEnv(config, envName);
  const log = hooks.log ?? (() => {});
  const ask = hooks.askPerson;
  return {
    toolName: tool.name,
    envName,
    env,
    config,
    appRoot,
    configPath,
    outlivesAnswer: hooks.outlivesAnswer ?? true,
    aws: runtime.clientsFor(envName),
    signal: hooks.signal ?? new AbortController().signal,
    progress: (message, progress, total) => hooks.progress?.(redactText(message), progress, total),
    log: (level, message) => log(level, redactText(message)),
    // Safety: the approval text can quote outside text (a lock holder); it leaves redacted too.
    askPerson: ask ? (request) => ask({ ...request, message: redactText(request.message) }) : null,
    now: runtime.now,
    run: runtime.run,
    tokens: runtime.signer,
    session: runtime.session,
    identity: () => runtime.identityFor(envName),
  };
}

export function errorResult(error: unknown): ToolCallResult {
  // Safety: an unexpected error's message can hold anything (a path from the repo, a body):
  // it is bounded and kept in its own field, never in the summary.
  const deployError =
    error instanceof DeployError
      ? error
      : new DeployError(
          "TOOL_FAILED",
          `Unexpected failure (${errorClassOf(error)}); its message is in cause. Nothing further was run; retry, and report it if it persists.`,
          { cause: error, detail: { cause: quote((error as Error)?.message ?? String(error), CAUSE_CHARS) } },
        );
  const structured = redactDeep({
    summary: deployError.message,
    error: { code: deployError.code, message: deployError.message },
    ...(deployError.detail ?? {}),
  }) as Record<string, unknown>;
  const detailText = deployError.detail ? `\n\n${JSON.stringify(structured, null, 2)}` : "";
  return { isError: true, complete: false, structured, text: `${structured.summary as string}${detailText}` };
}

const CAUSE_CHARS = 500;

function errorClassOf(error: unknown): string {
  const name = (error as Error)?.name;
  return typeof name === "string" && /^[A-Za-z][A-Za-z0-9]{0,39}$/.test(name) ? name : "Error";
}
