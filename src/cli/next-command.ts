import { cliCommand, shellQuote } from "../core/cli-command.js";

export { shellQuote };

/**
 * The exact command that confirms a plan the CLI just printed: the same tool and flags with
 * the confirmation token added (any dry run removed). Printed after exit code 3 so the person
 * reviewing the plan pastes one line instead of rebuilding it.
 */
export function confirmCommand(toolName: string, args: Record<string, unknown>, token: string): string {
  return `${cliCommand(toolName, args, ["confirmationToken", "dryRun"])} --confirmation-token ${shellQuote(token)}`;
}
