/**
 * Redaction applied to every string that leaves the server: tool output, log messages,
 * errors. Patterns err on the side of hiding: a false positive costs a few characters of
 * log text, a miss leaks a credential.
 */
import {
  BLOCK_RULES,
  ENTROPY_RULES,
  HEADER_RULES,
  looksRandom,
  PROVIDER_RULES,
  REDACTED,
  type RedactionRule,
  redactAssignments,
  secretNameKind,
} from "./redaction-rules.js";

export { REDACTED } from "./redaction-rules.js";

/**
 * The rule set, in the order it runs: whole private key blocks first (before any other rule
 * cuts into them), provider tokens, headers and connection strings, then (in redactText)
 * secret-named assignments, then standalone high-entropy runs.
 */
export const REDACTION_RULES: readonly RedactionRule[] = [...BLOCK_RULES, ...PROVIDER_RULES, ...HEADER_RULES];

/**
 * Hides every credential in `text`. Run it over the whole text before any truncation: a
 * block or token cut in half may no longer match (see redactExcerpt and redactLines).
 */
export function redactText(text: string): string {
  if (typeof text !== "string" || text.length < 4) return text;
  // Safety: our confirmation tokens are HMACs the model must pass back, not credentials, but
  // their random base64url parts can look like a secret key. They are set aside first, and
  // only strings that decode to a token payload qualify.
  const kept: string[] = [];
  // A private-use character marks our placeholders below; one in the input must not pass for a placeholder.
  let out = text.replace(/\uE000/g, "\uFFFD").replace(CONFIRMATION_TOKEN, (token) => {
    if (!isConfirmationToken(token)) return token;
    kept.push(token);
    return `\uE000CT${kept.length - 1}\uE000`;
  });
  for (const rule of REDACTION_RULES) out = applyRule(out, rule);
  out = keepLineBreaks(out, redactAssignments(out));
  for (const rule of ENTROPY_RULES) out = applyRule(out, rule);
  return kept.length ? out.replace(/\uE000CT(\d+)\uE000/g, (_m, i) => kept[Number(i)] ?? "") : out;
}

function applyRule(text: string, rule: RedactionRule): string {
  if (rule.hint && !text.includes(rule.hint)) return text;
  if (rule.apply) return keepLineBreaks(text, rule.apply(text));
  return text.replace(rule.pattern, (...args: unknown[]) => {
    const match = args[0] as string;
    // replace() passes the groups, then the offset and the whole string.
    const groups = args.slice(1, -2).map((g) => (g === undefined ? undefined : String(g))) as string[];
    return keepLineBreaks(match, rule.replace ? rule.replace(match, ...groups) : REDACTED);
  });
}

/**
 * A replacement keeps the line breaks of what it replaced, so that text redacted as a whole
 * (redactLines) splits back into as many lines as went in; each lost line says [REDACTED].
 */
function keepLineBreaks(before: string, after: string): string {
  const missing = countLineBreaks(before) - countLineBreaks(after);
  return missing > 0 ? after + `\n${REDACTED}`.repeat(missing) : after;
}

function countLineBreaks(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * Redacts lines (log events, output lines) as one text and splits the result back: a
 * private key block or a header split over several lines or events is seen whole, and every
 * piece of it comes back redacted. Returns exactly one string per input line.
 */
export function redactLines(lines: readonly string[]): string[] {
  if (lines.length === 0) return [];
  const pieces = redactText(lines.join("\n")).split("\n");
  const out: string[] = [];
  let at = 0;
  for (const line of lines) {
    const span = countLineBreaks(line) + 1;
    out.push(pieces.slice(at, at + span).join("\n"));
    at += span;
  }
  // Safety: if the pieces do not line up (they always should), hide everything rather than guess.
  return at === pieces.length ? out : lines.map(() => REDACTED);
}

/**
 * Redacts the whole text, then shortens it to `maxChars` (plus an ellipsis), never leaving
 * half a "[REDACTED]" marker. The order matters: cutting first can leave a secret that no
 * longer matches any rule (a PEM block without its END line, half a token).
 */
export function redactExcerpt(text: string, maxChars: number): string {
  const redacted = redactText(text);
  if (redacted.length <= maxChars) return redacted;
  let cut = redacted.slice(0, maxChars);
  const open = cut.lastIndexOf("[");
  if (open !== -1 && open + REDACTED.length > maxChars && redacted.startsWith(REDACTED, open))
    cut = cut.slice(0, open);
  return `${cut}…`;
}

/**
 * Redacts the whole text, then keeps its last `maxChars` (after an ellipsis), never starting
 * inside a "[REDACTED]" marker: the tail of an output, cut only once it is safe to cut.
 */
export function redactTail(text: string, maxChars: number): string {
  const redacted = redactText(text);
  if (redacted.length <= maxChars) return redacted;
  let start = redacted.length - maxChars;
  const marker = redacted.lastIndexOf(REDACTED, start);
  if (marker !== -1 && marker + REDACTED.length > start) start = marker + REDACTED.length;
  return `…${redacted.slice(start)}`;
}

/** The shape issued by safety/tokens.ts: v1.<base64url JSON payload>.<base64url HMAC-SHA256>. */
const CONFIRMATION_TOKEN = /(?<![A-Za-z0-9_.-])v1\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g;

function isConfirmationToken(token: string): boolean {
  const payload = token.split(".")[1] ?? "";
  try {
    const value = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    return (
      typeof value === "object" &&
      value !== null &&
      typeof value.nonce === "string" &&
      /^[0-9a-f]{32}$/.test(value.nonce) &&
      typeof value.digest === "string" &&
      /^[0-9a-f]{64}$/.test(value.digest) &&
      typeof value.exp === "number"
    );
  } catch {
    return false;
  }
}

/** Deep copy with every string redacted (keys are kept; values of secret-named keys are hidden). */
export function redactDeep<T>(value: T): T {
  return redactValue(value, undefined) as T;
}

// Our own outputs carry these names on purpose: a confirmation token is not a credential.
const ALLOWED_KEY_NAMES = new Set(["confirmationToken", "tokenExpiresAt"]);

function redactValue(value: unknown, key: string | undefined): unknown {
  if (typeof value === "string") {
    // Safety: a confirmation token is our own HMAC, not a credential; the model must see it.
    if (key && ALLOWED_KEY_NAMES.has(key)) return value;
    const kind = key ? secretNameKind(key) : null;
    if (kind === "strong" && value.length > 0) return REDACTED;
    if (kind === "weak" && looksRandom(value)) return REDACTED;
    return redactText(value);
  }
  // Lines of one output (terraform errors, an output tail split in lines) are redacted as one
  // text, so a block or header split over items is still seen whole.
  if (Array.isArray(value) && value.length > 1 && value.every((item) => typeof item === "string"))
    return redactLines(value as string[]);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, undefined));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, k);
    return out;
  }
  return value;
}
