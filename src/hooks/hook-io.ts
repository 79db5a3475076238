import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import {
  type Decision,
  decide,
  flagsSet,
  hookOutput,
  readHookInput,
  refuseUnreadableInput,
  type TranscriptRead,
} from "./typed-flags.js";

/** The hook input is a small JSON object; anything larger is refused unread. */
export const MAX_INPUT_BYTES = 1024 * 1024;
/** Only the end of a long transcript is read: the person asks for a flag shortly before it is used. */
export const TRANSCRIPT_TAIL_BYTES = 4 * 1024 * 1024;

/** Reads a stream to its end, failing once it passes `limit` bytes. */
export async function readBounded(stream: AsyncIterable<Buffer | string>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > limit) throw new Error(`the hook input is larger than ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The last `bytes` of a file as text. When the file is longer, the first (torn) line of the
 * window is dropped, so every line returned is whole.
 */
export function readTail(path: string, bytes: number): string {
  const fd = openSync(path, "r");
  try {
    const { size } = fstatSync(fd);
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, start + read);
      if (n === 0) break;
      read += n;
    }
    const text = buffer.subarray(0, read).toString("utf8");
    if (start === 0) return text;
    const newline = text.indexOf("\n");
    return newline < 0 ? "" : text.slice(newline + 1);
  } finally {
    closeSync(fd);
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
}

/**
 * The whole hook: the raw stdin text (or why it could not be read) in, the decision and what
 * to print out. The transcript is read only when a guarded flag is set.
 */
export function guard(
  stdin: { text: string } | { unreadable: string },
  readTranscript: (path: string) => string = (path) => readTail(path, TRANSCRIPT_TAIL_BYTES),
): { decision: Decision; output: string } {
  const decision = decideFromStdin(stdin, readTranscript);
  return { decision, output: hookOutput(decision) };
}

function decideFromStdin(
  stdin: { text: string } | { unreadable: string },
  readTranscript: (path: string) => string,
): Decision {
  if ("unreadable" in stdin) return refuseUnreadableInput(stdin.unreadable);
  let input: unknown;
  try {
    input = JSON.parse(stdin.text);
  } catch {
    return refuseUnreadableInput("the hook input is not valid JSON");
  }
  const call = readHookInput(input);
  if ("invalid" in call || flagsSet(call.toolInput).length === 0) return decide(input, { text: "" });
  if (typeof call.transcriptPath !== "string" || call.transcriptPath === "") {
    return decide(input, { unreadable: "the hook input has no transcript_path" });
  }
  let transcript: TranscriptRead;
  try {
    transcript = { text: readTranscript(call.transcriptPath) };
  } catch (error) {
    transcript = { unreadable: describe(error) };
  }
  return decide(input, transcript);
}
