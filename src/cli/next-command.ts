import { kebab } from "./args.js";

/**
 * The exact command that confirms a plan the CLI just printed: the same tool and flags with
 * the confirmation token added (any dry run removed). Printed after exit code 3 so the person
 * reviewing the plan pastes one line instead of rebuilding it.
 */
export function confirmCommand(toolName: string, args: Record<string, unknown>, token: string): string {
  const parts = ["npx", "vyaparai-deploy", toolName];
  for (const [name, value] of Object.entries(args)) {
    if (name === "confirmationToken" || name === "dryRun" || value === undefined) continue;
    const flag = `--${kebab(name)}`;
    if (value === true) parts.push(flag);
    else if (value === false) continue;
    else if (Array.isArray(value)) parts.push(flag, shellQuote(value.map(String).join(",")));
    else parts.push(flag, shellQuote(String(value)));
  }
  parts.push("--confirmation-token", shellQuote(token));
  return parts.join(" ");
}

/** POSIX single quotes, only when needed. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@,+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
