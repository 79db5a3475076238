/**
 * JSON as it goes over the wire, with the shapes JSON.stringify cannot write: a number text
 * like 1e400 (Infinity once parsed), -0 or 5.0, deep nesting written directly, and objects as
 * ordered entries so a key can repeat (JSON.parse keeps the last occurrence).
 */

/** JSON text written verbatim. */
export class RawJson {
  /** `label` describes a big text in reports (e.g. 'depth 10000 nesting'). */
  constructor(
    readonly text: string,
    readonly label?: string,
  ) {}
}

/** An object as sent: ordered entries, keys may repeat. */
export class SentObject {
  constructor(readonly entries: ReadonlyArray<readonly [string, Sent]>) {}
}

export type Sent = null | boolean | number | string | RawJson | SentObject | readonly Sent[];

export function toJsonText(value: Sent): string {
  if (value instanceof RawJson) return value.text;
  if (value instanceof SentObject) {
    return `{${value.entries.map(([key, inner]) => `${JSON.stringify(key)}:${toJsonText(inner)}`).join(",")}}`;
  }
  if (Array.isArray(value)) return `[${value.map((inner) => toJsonText(inner)).join(",")}]`;
  return JSON.stringify(value);
}

/** A plain JSON value (from fc.jsonValue) as a Sent value; own "__proto__" keys survive. */
export function fromJson(value: unknown): Sent {
  if (value === null || typeof value !== "object") return value as Sent;
  if (Array.isArray(value)) return value.map(fromJson);
  return new SentObject(Object.entries(value).map(([key, inner]) => [key, fromJson(inner)] as const));
}

/**
 * A short, exact description of a value for failure reports: a 1 MB string becomes
 * "a".repeat(1000000), a 3,000-key object shows its first keys and the count.
 */
export function describeSent(value: Sent, budget = 600): string {
  const text = describe(value);
  return text.length > budget ? `${text.slice(0, budget)}…` : text;
}

function describe(value: Sent): string {
  if (typeof value === "string") return describeString(value);
  if (value instanceof RawJson) {
    if (value.label) return `raw(${value.label})`;
    const run = repeatedUnit(value.text);
    return run
      ? `raw(${run})`
      : `raw(${value.text.length > 80 ? `${value.text.slice(0, 80)}…` : value.text})`;
  }
  if (value instanceof SentObject) {
    const shown = value.entries.slice(0, 12).map(([key, inner]) => `${describeKey(key)}: ${describe(inner)}`);
    const more = value.entries.length > 12 ? [`…+${value.entries.length - 12} more keys`] : [];
    return `{${[...shown, ...more].join(", ")}}`;
  }
  if (Array.isArray(value)) {
    const shown = value.slice(0, 6).map(describe);
    const more = value.length > 6 ? [`…+${value.length - 6} more items`] : [];
    return `[${[...shown, ...more].join(", ")}]`;
  }
  return JSON.stringify(value);
}

/** Keys are shown shorter than values: a flood of 100-character keys stays readable. */
function describeKey(key: string): string {
  if (key.length <= 40) return JSON.stringify(key);
  return repeatedUnit(key) ?? `${JSON.stringify(key.slice(0, 12))}+…(${key.length} UTF-16 units)`;
}

function describeString(text: string): string {
  if (text.length <= 80) return JSON.stringify(text);
  const run = repeatedUnit(text);
  if (run) return run;
  return `${JSON.stringify(text.slice(0, 60))}+…(${text.length} UTF-16 units)`;
}

/** `"x".repeat(n)` when the text is one unit (char or surrogate pair) repeated, else null. */
function repeatedUnit(text: string): string | null {
  for (const size of [1, 2, 3]) {
    const unit = text.slice(0, size);
    if (text.length >= size * 2 && text.length % size === 0 && unit.repeat(text.length / size) === text) {
      return `${JSON.stringify(unit)}.repeat(${text.length / size})`;
    }
  }
  return null;
}
