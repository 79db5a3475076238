/**
 * The decision of the PreToolUse guard (hooks/hooks.json → dist/hooks/guard-flags.js): a
 * destructive vyaparai-deploy call that sets a risky flag runs only when the person typed that
 * flag in this conversation. Pure: the hook input and the transcript text in, a decision out.
 *
 * Standalone on purpose: the hook runs from Claude Code's plugin cache, where the package's
 * node_modules may be absent, so this folder imports nothing but its own files.
 */

/** The risky flags and every spelling that counts as the person asking for one. */
export const GUARDED_FLAGS = {
  force: /\bforce\b/i,
  prune: /\bprune\b/i,
  allowDataLoss: /\ballow[\s_-]*data[\s_-]*loss\b/i,
  breakLock: /\bbreak(?:[\s_-]*|\s+the\s+)lock\b/i,
} as const satisfies Record<string, RegExp>;

export type GuardedFlag = keyof typeof GUARDED_FLAGS;

const FLAG_NAMES = Object.keys(GUARDED_FLAGS) as GuardedFlag[];

/** What the hook prints nothing for, or a refusal with the reason Claude and the person see. */
export type Decision = { decision: "none" } | { decision: "deny"; reason: string; flags: GuardedFlag[] };

/** The transcript as read for the decision: its text, or why it could not be read. */
export type TranscriptRead = { text: string } | { unreadable: string };

const NONE: Decision = { decision: "none" };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The guarded flags a call sets. Anything but absent, null or false counts as set: the
 * tools' schemas take booleans, and a stray `"true"` or `1` is refused rather than waved on.
 */
export function flagsSet(toolInput: Record<string, unknown>): GuardedFlag[] {
  return FLAG_NAMES.filter((flag) => {
    const value = toolInput[flag];
    return value !== undefined && value !== null && value !== false;
  });
}

/** The hook input's tool arguments, or why the input is not a PreToolUse call we can read. */
export function readHookInput(
  input: unknown,
): { toolName: string; toolInput: Record<string, unknown>; transcriptPath: unknown } | { invalid: string } {
  if (!isRecord(input)) return { invalid: "the hook input is not a JSON object" };
  const toolInput = input.tool_input ?? {};
  if (!isRecord(toolInput)) return { invalid: "the hook input's tool_input is not an object" };
  const toolName = typeof input.tool_name === "string" ? input.tool_name : "this tool";
  return { toolName, toolInput, transcriptPath: input.transcript_path };
}

/**
 * Wrappers Claude Code writes into a user message that the person did not type: shell and
 * local-command output, reminders and notices. Their content never counts.
 */
const MACHINE_TAGS = [
  "bash-input",
  "bash-stdout",
  "bash-stderr",
  "local-command-stdout",
  "local-command-stderr",
  "local-command-caveat",
  "system-reminder",
  "task-notification",
  "user-prompt-submit-hook",
  "command-contents",
];
const MACHINE_BLOCK = new RegExp(`<(${MACHINE_TAGS.join("|")})>[\\s\\S]*?</\\1>`, "g");
const COMMAND_NAME = /<command-name>/;

/**
 * The part of one user message text that the person typed. A slash command is recorded as
 * `<command-message>…</command-message><command-name>/deploy</command-name>
 * <command-args>…</command-args>`: only the arguments were typed (the expanded command body
 * is a separate `isMeta` entry). Other text counts except the machine wrappers above.
 */
export function typedPart(text: string): string {
  if (COMMAND_NAME.test(text)) {
    const start = text.indexOf("<command-args>");
    const end = text.lastIndexOf("</command-args>");
    return start >= 0 && end > start ? text.slice(start + "<command-args>".length, end) : "";
  }
  return text.replace(MACHINE_BLOCK, " ");
}

/**
 * Transcript entry markers of messages the person did not type: the expanded slash command
 * and other injected context (`isMeta`), a subagent's prompt (`isSidechain`), the model's own
 * summary after compaction, transcript-only and virtual rows, and what a tool call produced
 * (a skill or command the model invoked included).
 */
const NOT_TYPED_MARKERS = [
  "isMeta",
  "sourceToolUseID",
  "sourceToolAssistantUUID",
  "isSidechain",
  "isCompactSummary",
  "isVisibleInTranscriptOnly",
  "isVirtual",
  "localCommandOutput",
  "modelOnlyText",
];

/** The text of a string or of the text blocks of a content array (null for anything else). */
function textOf(content: unknown): string | null {
  if (typeof content === "string") return typedPart(content);
  if (!Array.isArray(content)) return null;
  // A message carrying a tool result is the tools' answer, text blocks beside it included.
  if (content.some((block) => isRecord(block) && block.type === "tool_result")) return null;
  const texts = content
    .filter((block): block is { type: "text"; text: string } => {
      return isRecord(block) && block.type === "text" && typeof block.text === "string";
    })
    .map((block) => typedPart(block.text));
  return texts.length > 0 ? texts.join("\n") : null;
}

/**
 * A message the person typed while Claude was still working is recorded as a queued command.
 * Other sources queue commands too, so only one marked as a human's counts.
 */
function queuedTextOf(attachment: unknown): string | null {
  if (!isRecord(attachment) || attachment.type !== "queued_command") return null;
  if (attachment.isMeta || !isRecord(attachment.origin) || attachment.origin.kind !== "human") return null;
  return textOf(attachment.prompt);
}

/** The text the person typed in one transcript entry, or null when the entry is not theirs. */
export function typedTextOf(entry: unknown): string | null {
  if (isRecord(entry) && entry.type === "attachment") return queuedTextOf(entry.attachment);
  if (!isRecord(entry) || entry.type !== "user") return null;
  if (NOT_TYPED_MARKERS.some((marker) => Boolean(entry[marker]))) return null;
  if (entry.toolUseResult !== undefined) return null;
  // Newer transcripts say where a user-role message came from; only a human's counts.
  if (isRecord(entry.origin) && entry.origin.kind !== undefined && entry.origin.kind !== "human") return null;
  const message = entry.message;
  if (!isRecord(message) || (message.role !== undefined && message.role !== "user")) return null;
  return textOf(message.content);
}

/** Every message text the person typed, oldest first, from transcript JSONL (bad lines skipped). */
export function typedMessages(transcript: string): string[] {
  const typed: string[] = [];
  for (const line of transcript.split("\n")) {
    if (!line.trim()) continue;
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      continue; // a torn first line of a tail read, or a line being written
    }
    const text = typedTextOf(entry);
    if (text?.trim()) typed.push(text);
  }
  return typed;
}

/** Whether the person's messages name the flag in any of its spellings. */
export function flagTyped(flag: GuardedFlag, messages: readonly string[]): boolean {
  return messages.some((text) => GUARDED_FLAGS[flag].test(text));
}

function list(flags: readonly string[]): string {
  return flags.map((flag) => `${flag}: true`).join(", ");
}

function deny(flags: GuardedFlag[], reason: string): Decision {
  return { decision: "deny", reason: `vyaparai-deploy guard: ${reason}`, flags };
}

/** The refusal when the hook input itself cannot be read: whether a flag is set is unknown. */
export function refuseUnreadableInput(why: string): Decision {
  return deny(
    FLAG_NAMES,
    `${why}, so it cannot tell whether a risky flag (${FLAG_NAMES.join(", ")}) is set; refusing to be safe.`,
  );
}

/**
 * The guard's decision for one call. No guarded flag set: no opinion (the usual permission
 * prompt applies). A flag set: allowed only if the person's own messages name it; an input
 * or transcript that cannot be read refuses (fails closed).
 */
export function decide(input: unknown, transcript: TranscriptRead): Decision {
  const call = readHookInput(input);
  if ("invalid" in call) return refuseUnreadableInput(call.invalid);
  const flags = flagsSet(call.toolInput);
  if (flags.length === 0) return NONE;
  if ("unreadable" in transcript) {
    return deny(
      flags,
      `${call.toolName} was called with ${list(flags)}, and the conversation transcript could not be read (${transcript.unreadable}) to check that the person asked for it; refusing to be safe. Call it without the flag, or have the person ask for it in their own words and try again.`,
    );
  }
  const messages = typedMessages(transcript.text);
  const missing = flags.filter((flag) => !flagTyped(flag, messages));
  if (missing.length === 0) return NONE;
  return deny(
    missing,
    `${call.toolName} was called with ${list(missing)}, but the person never asked for ${missing.join(" or ")} in their own messages in this conversation. Such a flag is used only when the person asks for it in their own words. Do not retry with it: call without it, or explain why it would be needed and let the person decide.`,
  );
}

/** What the hook prints for a decision: PreToolUse JSON for a refusal, nothing otherwise. */
export function hookOutput(decision: Decision): string {
  if (decision.decision === "none") return "";
  return `${JSON.stringify({
    hookSpecificOutput: {
      hookEventName: "PreToolUse",
      permissionDecision: "deny",
      permissionDecisionReason: decision.reason,
    },
  })}\n`;
}
