import { redactText } from "./redact.js";

/** How much of any input or outside text an error or field quotes by default. */
export const QUOTE_CHARS = 100;

/**
 * At most `maxChars` of a text, redacted, with control characters (and the given extra ones)
 * replaced by "?": the one way an error quotes a caller's argument or a piece of outside text.
 *
 * Redaction runs on a window several times longer than what is kept, so a secret that starts
 * inside the quote and ends beyond it is still recognised whole (cutting first can leave half
 * a token no rule matches); the window keeps a 1 MB argument from costing a 1 MB scan.
 */
export function quote(text: string, maxChars = QUOTE_CHARS, alsoReplace?: RegExp): string {
  let clean = redactText(text.slice(0, maxChars * 8)).replace(/\p{Cc}/gu, "?");
  if (alsoReplace) clean = clean.replace(alsoReplace, "?");
  return clean.length > maxChars ? `${clean.slice(0, maxChars)}…` : clean;
}
