import type { CallerIdentity, CodeAnswer, CodeRequest } from "../core/context.js";
import { RefusalError } from "../core/errors.js";
import type { ToolContext } from "../release/context.js";
import { type AnyToolDefinition, isDestructive } from "../tools/definition.js";
import { fetchIdentity, type Runtime } from "./runtime.js";

/** Asks the person for the MFA code; null when this client or terminal cannot ask. */
export type AskCode = ((request: CodeRequest) => Promise<CodeAnswer>) | null;

export interface RoleScopedContext {
  ctx: ToolContext;
  /** Drops the role's clients (and with them the credentials) when the call ends. */
  close(): void;
}

const MFA_CODE = /^\d{6}$/;

/**
 * A call that will change AWS on an env with a deploy role: a guarded tool's non-dry-run call
 * that is not only planning (on a protected env, the one carrying a confirmation token).
 */
export function changesAws(
  tool: AnyToolDefinition,
  args: Record<string, unknown>,
  protectedEnv: boolean,
): boolean {
  if (!isDestructive(tool) || args.dryRun === true) return false;
  return !protectedEnv || typeof args.confirmationToken === "string";
}

/**
 * Runs the call as the env's deploy role: asks the person for the MFA code (when the role
 * has a device), assumes the role with the release id as its session name and the person's
 * own identity as SourceIdentity, and hands the call clients holding those credentials.
 * Read-only calls and plans keep the caller's credentials. The code is used once, here.
 */
export async function withDeployRole(input: {
  tool: AnyToolDefinition;
  args: Record<string, unknown>;
  ctx: ToolContext;
  runtime: Runtime;
  askCode: AskCode;
  /** How the CLI would run this step, for the refusal of a client that cannot ask. */
  cliHint: string;
}): Promise<RoleScopedContext> {
  const { ctx, tool } = input;
  const role = ctx.env.deployRole;
  if (!role || !changesAws(tool, input.args, ctx.env.protected)) return { ctx, close: () => {} };
  // Lazy: the records and STS modules pull in AWS SDK clients, which start-up must not pay for.
  const [{ newReleaseId }, { assumeDeployRole, sourceIdentityOf }] = await Promise.all([
    import("../release/records.js"),
    import("../aws/assume-role.js"),
  ]);
  const caller = await ctx.identity();
  const sessionName = newReleaseId(ctx.now());
  let tokenCode: string | null = null;
  if (role.mfaSerial) {
    if (!input.askCode) {
      throw new RefusalError(
        `${tool.name} on "${ctx.envName}" runs as the deploy role ${role.roleArn}, which needs the person's MFA code, and this client cannot ask for it out of the model's sight (no form elicitation, or no terminal). Nothing was changed. Run this step yourself in a terminal: ${input.cliHint}`,
        { reason: "mfa_unavailable" },
      );
    }
    const answer = await input.askCode({
      message: `MFA code for ${role.mfaSerial}: ${tool.name} on "${ctx.envName}" runs as ${role.roleArn} (release ${sessionName}). The code goes to the vyaparai-deploy server only and is used once.`,
    });
    if (answer.action !== "accept") {
      throw new RefusalError(
        `The MFA prompt was ${answer.action === "decline" ? "declined" : "cancelled"}: nothing was changed on "${ctx.envName}".`,
        { reason: "mfa_declined" },
      );
    }
    if (!MFA_CODE.test(answer.code.trim())) {
      throw new RefusalError("An MFA code is 6 digits; what was entered is not. Nothing was changed.", {
        reason: "mfa_malformed",
      });
    }
    tokenCode = answer.code.trim();
  }
  const credentials = await assumeDeployRole({
    sts: await ctx.aws.sts(),
    role,
    sessionName,
    sourceIdentity: sourceIdentityOf(caller.arn),
    tokenCode,
    signal: ctx.signal,
  });
  tokenCode = null;
  const aws = input.runtime.clientsWithCredentials(ctx.envName, credentials);
  let identity: Promise<CallerIdentity> | undefined;
  return {
    ctx: {
      ...ctx,
      aws,
      identity: () => {
        identity ??= fetchIdentity(aws);
        return identity;
      },
      roleCredentials: credentials,
      deployRole: {
        roleArn: role.roleArn,
        sessionName,
        sourceIdentity: sourceIdentityOf(caller.arn),
        mfaSerial: role.mfaSerial,
      },
    },
    close: () => aws.destroy(),
  };
}
