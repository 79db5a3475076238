import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * What the bundled programs (build/bundle.ts) load before their first tool call: the entry and
 * the chunks it imports statically, read from esbuild's metafile of the last build. Heavy parts
 * must stay behind dynamic imports, or every start-up pays for them.
 */
const ROOT = resolve(import.meta.dirname, "../..");
const META = resolve(ROOT, "dist/bundle-meta.json");
const HEAVY = [
  /node_modules\/@aws-sdk\//,
  /node_modules\/@smithy\//,
  /node_modules\/execa\//,
  /node_modules\/yazl\//,
];

interface Metafile {
  outputs: Record<
    string,
    { imports: Array<{ path: string; kind: string }>; inputs: Record<string, unknown>; entryPoint?: string }
  >;
}

function loadedAtStart(meta: Metafile, entry: string): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length) {
    const output = queue.pop() as string;
    if (seen.has(output)) continue;
    seen.add(output);
    for (const link of meta.outputs[output]?.imports ?? []) {
      if (link.kind === "import-statement" && link.path in meta.outputs) queue.push(link.path);
    }
  }
  return [...seen].flatMap((output) => Object.keys(meta.outputs[output]?.inputs ?? {}));
}

describe("the bundled programs", () => {
  const meta = JSON.parse(readFileSync(META, "utf8")) as Metafile;

  it.each(["dist/main.js", "dist/cli.js"])(
    "%s is a bundle that starts without the AWS SDK or other heavy modules",
    (entry) => {
      expect(meta.outputs[entry]?.entryPoint).toMatch(/^src\/(main|cli)\.ts$/);
      const inputs = loadedAtStart(meta, entry);
      // The entry's own code is in the start-up set; the AWS SDK is not.
      expect(inputs).toContain(meta.outputs[entry]?.entryPoint);
      expect(inputs.filter((input) => HEAVY.some((re) => re.test(input)))).toEqual([]);
      // ... and every AWS client is still reachable, in a chunk loaded on demand.
      const all = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
      expect(all.some((input) => input.includes("node_modules/@aws-sdk/client-s3/"))).toBe(true);
    },
  );

  it("every chunk the entries name is on disk, so a partial build cannot ship", () => {
    for (const output of Object.keys(meta.outputs))
      expect(existsSync(resolve(ROOT, output)), output).toBe(true);
  });
});
