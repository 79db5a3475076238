import { redactText } from "../core/redact.js";
import type { ToolContext } from "./context.js";
import type { ReleaseRecord } from "./types.js";

/**
 * Release notifications to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat,
 * Discord's /slack endpoint). Best effort by design: a notification that cannot be delivered
 * is a warning, never a failed deploy.
 */

export const NOTIFY_TIMEOUT_MS = 5_000;

export interface NotifyOptions {
  /** Where the webhook variable is read; process.env by default. */
  environment?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

type FinalStatus = Exclude<ReleaseRecord["status"], "in_progress">;

const STATUS_WORDS: Record<FinalStatus, { emoji: string; word: string }> = {
  succeeded: { emoji: ":white_check_mark:", word: "succeeded" },
  failed: { emoji: ":x:", word: "failed" },
  rolled_back: { emoji: ":rewind:", word: "failed and was rolled back" },
  recovered: { emoji: ":adhesive_bandage:", word: "was interrupted and has been recovered" },
};

const ERROR_EXCERPT_CHARS = 300;

/**
 * Posts the outcome of a finished release when `notifyWebhookEnv` names a variable holding a
 * webhook URL. Never throws.
 */
export async function notifyRelease(
  ctx: Pick<ToolContext, "env" | "log">,
  record: ReleaseRecord,
  options: NotifyOptions = {},
): Promise<void> {
  try {
    if (record.status === "in_progress") return;
    const variable = ctx.env.notifyWebhookEnv;
    if (!variable) return;
    const url = webhookUrl((options.environment ?? process.env)[variable]);
    if (url === "unset") {
      ctx.log("warning", `Release notification skipped: ${variable} (notifyWebhookEnv) is not set.`);
      return;
    }
    if (url === "invalid") {
      ctx.log("warning", `Release notification skipped: ${variable} does not hold an http(s) URL.`);
      return;
    }
    const problem = await post(url, buildReleaseMessage(record), options.timeoutMs ?? NOTIFY_TIMEOUT_MS);
    if (problem) {
      ctx.log(
        "warning",
        `Release notification to the webhook in ${variable} failed: ${problem}. The release itself is not affected.`,
      );
    } else {
      ctx.log("debug", `Release notification sent to the webhook in ${variable}.`);
    }
  } catch (error) {
    // Safety: a bug in building or sending a notification must never fail a deploy; the
    // message carries no URL (it is built from the error's kind, not its text).
    ctx.log("warning", `Release notification failed: ${(error as Error)?.name ?? "error"}.`);
  }
}

function webhookUrl(value: string | undefined): URL | "unset" | "invalid" {
  if (!value?.trim()) return "unset";
  try {
    const url = new URL(value.trim());
    return url.protocol === "https:" || url.protocol === "http:" ? url : "invalid";
  } catch {
    return "invalid";
  }
}

/** Returns null when delivered, otherwise why not, in words that never include the URL. */
async function post(url: URL, message: SlackMessage, timeoutMs: number): Promise<string | null> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(timeoutMs),
      // Safety: the payload names people and commits; it goes to the configured host only.
      redirect: "error",
    });
  } catch (error) {
    return describeFetchFailure(error, timeoutMs);
  }
  // The body is the receiver's text (untrusted, and unneeded): release the socket instead.
  await response.body?.cancel().catch(() => {});
  return response.ok ? null : `the webhook answered HTTP ${response.status}`;
}

function describeFetchFailure(error: unknown, timeoutMs: number): string {
  const name = (error as Error)?.name;
  if (name === "TimeoutError" || name === "AbortError") return `no answer within ${timeoutMs / 1000} s`;
  // Safety: undici's messages and causes can quote the request; report only the error code.
  const code = (error as { cause?: { code?: unknown } })?.cause?.code;
  return typeof code === "string" && /^[A-Z_]+$/.test(code)
    ? `could not reach the webhook (${code})`
    : "could not reach the webhook";
}

/** The Slack-compatible payload: `text` for every client, `blocks` for a richer layout. */
export function buildReleaseMessage(record: ReleaseRecord): SlackMessage {
  const status = STATUS_WORDS[record.status as FinalStatus] ?? {
    emoji: ":grey_question:",
    word: record.status,
  };
  const what = record.tool === "rollback" ? `${record.component} rollback` : `${record.component} release`;
  const headline = `${status.emoji} *${escapeMrkdwn(record.env)}*: ${escapeMrkdwn(what)} ${status.word}`;
  const facts: Array<[string, string]> = [
    ["Env", record.env],
    ["Component", record.component],
    ["Status", record.status],
    ["Release", record.releaseId],
    ["Who", record.who ?? "unknown"],
    ["Git sha", record.gitSha ?? "unknown"],
    ["Duration", formatDuration(record.startedAt, record.finishedAt)],
  ];
  if (record.restoredFrom) facts.push(["Restored", record.restoredFrom]);
  const error = record.error ? excerpt(redactText(record.error)) : null;
  const text = [
    headline,
    facts.map(([label, value]) => `${label}: ${escapeMrkdwn(value)}`).join(" · "),
    ...(error ? [`Error: ${escapeMrkdwn(error)}`] : []),
  ].join("\n");
  const blocks: unknown[] = [
    { type: "section", text: { type: "mrkdwn", text: headline } },
    {
      type: "section",
      fields: facts.map(([label, value]) => ({ type: "mrkdwn", text: `*${label}*\n${escapeMrkdwn(value)}` })),
    },
  ];
  // Error text comes from AWS, tests or logs: plain_text so no link or mention can be injected.
  if (error) blocks.push({ type: "context", elements: [{ type: "plain_text", text: error, emoji: false }] });
  return { text, blocks };
}

/** Slack's three control characters; everything else is literal in mrkdwn. */
function escapeMrkdwn(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function excerpt(value: string): string {
  const oneLine = value.replace(/\s+/g, " ").trim();
  return oneLine.length > ERROR_EXCERPT_CHARS ? `${oneLine.slice(0, ERROR_EXCERPT_CHARS - 1)}…` : oneLine;
}

export function formatDuration(startedAt: string, finishedAt: string | null): string {
  if (!finishedAt) return "unknown";
  const ms = Date.parse(finishedAt) - Date.parse(startedAt);
  if (!Number.isFinite(ms) || ms < 0) return "unknown";
  if (ms < 1_000) return `${ms} ms`;
  const seconds = Math.round(ms / 1_000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${seconds % 60} s`;
}
