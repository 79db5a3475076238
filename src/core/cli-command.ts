/**
 * A tool call written as the CLI command that makes it, for messages that tell a person what
 * to run (the confirm step after exit code 3, the MFA step a client cannot ask for).
 */

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** POSIX single quotes, only when needed. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@,+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

export function cliCommand(
  toolName: string,
  args: Record<string, unknown>,
  omit: readonly string[] = [],
): string {
  const parts = ["npx", "vyaparai-deploy", toolName];
  for (const [name, value] of Object.entries(args)) {
    if (omit.includes(name) || value === undefined || value === false) continue;
    const flag = `--${kebab(name)}`;
    if (value === true) parts.push(flag);
    else if (Array.isArray(value)) parts.push(flag, shellQuote(value.map(String).join(",")));
    else parts.push(flag, shellQuote(String(value)));
  }
  return parts.join(" ");
}
