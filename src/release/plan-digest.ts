import { createHash } from "node:crypto";

/**
 * The digest a confirmation token confirms. Plans must be canonical (no timestamps, no
 * random ids): the same change planned twice gives the same digest, any difference gives
 * another.
 */

/** JSON with object keys sorted at every level and no whitespace; undefined fields dropped. */
export function canonicalJson(value: unknown): string {
  const text = canonical(value);
  return text === undefined ? "null" : text;
}

function canonical(value: unknown): string | undefined {
  if (value === null) return "null";
  if (value !== undefined && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return canonical((value as { toJSON(): unknown }).toJSON());
  }
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null";
    case "bigint":
      return JSON.stringify(value.toString());
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonical(item) ?? "null").join(",")}]`;
  const entries = Object.keys(value as object)
    .sort()
    .flatMap((key) => {
      const text = canonical((value as Record<string, unknown>)[key]);
      return text === undefined ? [] : [`${JSON.stringify(key)}:${text}`];
    });
  return `{${entries.join(",")}}`;
}

/** Hex SHA-256 of the plan's canonical JSON. */
export function digestPlan(plan: unknown): string {
  return createHash("sha256").update(canonicalJson(plan), "utf8").digest("hex");
}
