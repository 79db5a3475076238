import { RefusalError } from "../core/errors.js";
import type { ToolContext } from "./context.js";

/**
 * A person approves a protected mutation (DESIGN.md §3.2). Where the client can ask (MCP
 * form elicitation) the server asks the user directly, so a model cannot approve its own
 * change; where it cannot, the confirmation token alone stands unless the config's
 * `requireElicitation` says otherwise.
 */
export interface ApprovalInput {
  tool: string;
  planSummary: string;
  planDigest: string;
}

const MAX_SUMMARY_CHARS = 1_500;

export async function requestApproval(ctx: ToolContext, input: ApprovalInput): Promise<void> {
  if (!ctx.askPerson) {
    if (ctx.config.requireElicitation) {
      throw new RefusalError(
        `${input.tool} on protected env "${ctx.envName}" needs a person's approval, and this client cannot ask one (no form elicitation); requireElicitation is true in deploy.config.json. Run it from a client that supports elicitation (e.g. Claude Code) or from the CLI. Nothing was changed.`,
        { reason: "approval_unavailable" },
      );
    }
    return;
  }
  let answer: Awaited<ReturnType<NonNullable<ToolContext["askPerson"]>>>;
  try {
    answer = await ctx.askPerson({ message: approvalMessage(ctx, input) });
  } catch (error) {
    // Safety: a question that could not be asked or answered is not an approval.
    throw new RefusalError(
      `Could not get a person's approval for ${input.tool} on "${ctx.envName}" (${(error as Error)?.message ?? String(error)}). Nothing was changed; call again to be asked again.`,
      { reason: "approval_failed" },
    );
  }
  if (answer !== "accept") {
    throw new RefusalError(
      `The user ${answer === "decline" ? "declined" : "cancelled"} ${input.tool} on "${ctx.envName}"; nothing was changed.`,
      { reason: answer === "decline" ? "declined" : "cancelled" },
    );
  }
}

function approvalMessage(ctx: ToolContext, input: ApprovalInput): string {
  const summary =
    input.planSummary.length > MAX_SUMMARY_CHARS
      ? `${input.planSummary.slice(0, MAX_SUMMARY_CHARS)}…`
      : input.planSummary;
  const why = ctx.protectedBy?.length ? [`Protected because ${ctx.protectedBy.join("; ")}.`, ""] : [];
  return [
    `Approve ${input.tool} on PROTECTED env "${ctx.envName}" (${ctx.env.region})?`,
    "",
    ...why,
    summary,
    "",
    `Plan digest ${input.planDigest.slice(0, 12)}. Accept to proceed; decline to change nothing.`,
  ].join("\n");
}
