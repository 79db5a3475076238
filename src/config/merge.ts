/**
 * Deep merge of plain objects: objects merge key by key, everything else (arrays, scalars,
 * null) in `override` replaces the base. Arrays replace so that a file can shorten a list.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const below = Object.hasOwn(base, key) ? base[key] : undefined;
    // Safety: defined, not assigned: `merged["__proto__"] = …` would swap the prototype and the
    // key would vanish; kept as an own key, the strict config schema names it as unknown.
    Object.defineProperty(merged, key, {
      value: deepMerge(below, value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return merged;
}
