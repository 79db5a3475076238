/**
 * Redaction applied to every string that leaves the server: tool output, log messages,
 * errors. Patterns err on the side of hiding: a false positive costs a few characters of
 * log text, a miss leaks a credential.
 */
const REDACTED = "[REDACTED]";

const PATTERNS: Array<[RegExp, string | ((...groups: string[]) => string)]> = [
  // AWS access key ids (long-term AKIA, temporary ASIA, and the other documented prefixes).
  [/\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b/g, REDACTED],
  // STS session tokens standing alone: they start with these base64 prefixes.
  [/(?<![A-Za-z0-9/+])(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)[A-Za-z0-9/+=]{16,}/g, REDACTED],
  // JSON/YAML style "key": "value" for secret-looking keys (a kept confirmation token excepted).
  [
    /("(?:[\w-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|authorization)[\w-]*)"\s*:\s*)"(?!\uE000CT\d+\uE000")(?:[^"\\]|\\.)*"/gi,
    (_m, key) => `${key}"${REDACTED}"`,
  ],
  // key=value / key: value in plain text (env dumps, log lines, CLI output).
  [
    /\b([\w-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)[\w-]*)(\s*[=:]\s*)(?!\[REDACTED\]|\uE000)("[^"]*"|'[^']*'|[^\s,;&"'}]+)/gi,
    (_m, key, sep) => `${key}${sep}${REDACTED}`,
  ],
  // Authorization headers and bearer tokens.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, (_m, scheme) => `${scheme} ${REDACTED}`],
  // JWTs (three base64url segments, the first two starting with '{"' encoded).
  [/\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g, REDACTED],
  // Credentials embedded in URLs: scheme://user:pass@host
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/:@]+:[^\s/@]+@/gi, (_m, scheme) => `${scheme}${REDACTED}@`],
  // AWS secret access keys: 40 base64 chars standing alone (after the patterns above).
  [/(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g, (m) => (looksLikeSecretKey(m) ? REDACTED : m)],
  // Private key blocks.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, REDACTED],
];

/** A 40-char run is a secret key only if it mixes cases and digits (not a hex sha or a path). */
function looksLikeSecretKey(candidate: string): boolean {
  if (/^[0-9a-f]+$/i.test(candidate)) return false;
  return /[A-Z]/.test(candidate) && /[a-z]/.test(candidate) && /[0-9]/.test(candidate);
}

export function redactText(text: string): string {
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
  for (const [pattern, replacement] of PATTERNS) {
    out = out.replace(pattern, replacement as (substring: string, ...args: string[]) => string);
  }
  return kept.length ? out.replace(/\uE000CT(\d+)\uE000/g, (_m, i) => kept[Number(i)] ?? "") : out;
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

const SECRET_KEY_NAME = /password|passwd|secret|token|api[_-]?key|private[_-]?key|credential|authorization/i;
// Our own outputs carry these names on purpose: a confirmation token is not a credential.
const ALLOWED_KEY_NAMES = new Set(["confirmationToken", "tokenExpiresAt"]);

function redactValue(value: unknown, key: string | undefined): unknown {
  if (typeof value === "string") {
    // Safety: a confirmation token is our own HMAC, not a credential; the model must see it.
    if (key && ALLOWED_KEY_NAMES.has(key)) return value;
    if (key && SECRET_KEY_NAME.test(key) && value.length > 0) return REDACTED;
    return redactText(value);
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, undefined));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, k);
    return out;
  }
  return value;
}
