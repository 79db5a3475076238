/**
 * Plain-text pieces for the CLI's human output: one-line cells, bounded values and aligned
 * tables. Everything here only shortens or escapes text from the result; it adds none.
 */

/** A table cell is cut to this many characters. */
export const CELL_CHARS = 60;
/** A `key: value` line's value is cut to this many characters. */
export const VALUE_CHARS = 200;
/** Tables and lists show this many rows, then say how many more there are. */
export const MAX_ROWS = 40;

// Line breaks and tabs become spaces; other control and bidi-override characters are shown
// escaped, as JSON would, so untrusted text (a log line, a lock holder) cannot drive the terminal.
const BREAKS = /\r\n|[\r\n\t]/g;
const UNSAFE = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** One line of text, safe to print. */
export function clean(text: string): string {
  return text
    .replace(BREAKS, " ")
    .replace(UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** At most `max` characters, ending in "…" when cut (never halves a surrogate pair). */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isScalar(value: unknown): value is string | number | boolean | null {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/** Compact single-line JSON, cleaned and cut. */
export function compact(value: unknown, max = VALUE_CHARS): string {
  return cut(clean(JSON.stringify(value) ?? String(value)), max);
}

/** A value as short text: scalars as they are, scalar lists joined, objects as compact JSON. */
export function text(value: unknown, max = VALUE_CHARS): string {
  if (value === undefined || value === null) return "-";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return cut(clean(value), max);
  if (typeof value === "number") return String(value);
  if (Array.isArray(value) && value.every(isScalar)) return cut(clean(value.map(String).join(", ")), max);
  return compact(value, max);
}

/**
 * An aligned table: a header row, a dashed rule and one row per item, each column as wide as
 * its widest cell. Columns with no value in any row are left out; at most `maxRows` rows.
 */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[], maxRows = MAX_ROWS) {
  if (rows.length === 0) return ["(none)"];
  const keep = headers.map((_, i) => rows.some((row) => row[i] !== undefined));
  const pick = <T>(cells: readonly T[]) => cells.filter((_, i) => keep[i]);
  const body = rows.slice(0, maxRows).map((row) => pick(headers.map((_, i) => text(row[i], CELL_CHARS))));
  const head = pick(headers);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const lines = [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)];
  if (rows.length > maxRows) lines.push(`… ${rows.length - maxRows} more`);
  return lines;
}

/** A table of objects with the union of their keys as columns (for fields with no own layout). */
export function objectTable(items: readonly Record<string, unknown>[], maxRows = MAX_ROWS): string[] {
  const keys = [...new Set(items.flatMap((item) => Object.keys(item)))];
  return table(
    keys,
    items.map((item) => keys.map((key) => item[key])),
    maxRows,
  );
}

/** `- item` lines, each cut, at most `maxRows` of them. */
export function bullets(items: readonly unknown[], maxRows = MAX_ROWS): string[] {
  if (items.length === 0) return ["(none)"];
  const lines = items.slice(0, maxRows).map((item) => `- ${text(item)}`);
  if (items.length > maxRows) lines.push(`… ${items.length - maxRows} more`);
  return lines;
}
