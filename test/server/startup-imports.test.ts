import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../../src");
// Each of these costs tens of milliseconds to import; the server must answer tools/list
// without them, loading them on the first tool call instead.
const HEAVY = [/^@aws-sdk\//, /^execa$/, /^yazl$/, /^mime$/, /^tinyglobby$/];

/** Static (value) imports of a TypeScript file: `import type` and `import()` are not followed. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers: string[] = [];
  const pattern = /^\s*(import|export)\s+(?!type\b)[^"';]*?from\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gm;
  for (const match of text.matchAll(pattern)) specifiers.push((match[2] ?? match[3]) as string);
  return specifiers;
}

function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const queue = [entry];
  while (queue.length) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    const imports = staticImports(file);
    seen.set(file, imports);
    for (const spec of imports) {
      if (spec.startsWith(".")) queue.push(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
    }
  }
  return seen;
}

describe("start-up import graph", () => {
  it.each(["main.ts", "cli.ts"])("%s reaches no AWS SDK client or other heavy module statically", (entry) => {
    const offenders: string[] = [];
    for (const [file, imports] of reachable(resolve(SRC, entry))) {
      for (const spec of imports) {
        if (HEAVY.some((re) => re.test(spec)))
          offenders.push(`${file.slice(SRC.length + 1)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
