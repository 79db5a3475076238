import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../../src");

/**
 * The layers of src/, bottom to top (README, "Design"). An import may only point to a lower
 * layer or stay inside its own folder; two folders on one layer do not know each other.
 * `apps` (demo, benchmarks, emulator launcher, docs generator) sit beside the product: they
 * may use any layer, and no layer may use them.
 */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ["core"],
  ["config"],
  ["aws"],
  ["release"],
  ["observe", "preflight", "deploy", "iam"],
  ["deploy/lambda", "deploy/frontend", "infra"],
  ["tools"],
  ["server"],
  ["cli"],
  ["entry"],
];
const APPS = ["emulator", "demo", "bench", "docs", "build"];
/**
 * Standalone scripts: the Claude Code plugin's hooks run as `node dist/hooks/….js` from the
 * plugin cache, where node_modules may be absent. They import only node: built-ins and their
 * own folder, and nothing imports them.
 */
const STANDALONE = ["hooks"];
/** Domain folders take narrow dependencies, never the whole tool context. */
const DOMAIN = ["observe", "preflight", "deploy", "deploy/lambda", "deploy/frontend", "infra"];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".test.ts") ? [path] : [];
  });
}

/** The folder group of a file: `deploy/lambda` for src/deploy/lambda/x.ts, `entry` for src/main.ts. */
function groupOf(file: string): string {
  const rel = relative(SRC, file).split("/");
  if (rel.length === 1) return "entry";
  if (rel[0] === "deploy" && rel.length > 2) return `deploy/${rel[1]}`;
  return rel[0] as string;
}

function rankOf(group: string): number {
  if (APPS.includes(group)) return Number.POSITIVE_INFINITY;
  const rank = LAYERS.findIndex((layer) => layer.includes(group));
  if (rank < 0) throw new Error(`src/${group} is in no layer: add it to LAYERS in this test and the README`);
  return rank;
}

/** Every relative import of a file, static, type-only and dynamic alike. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  const pattern = /(?:from\s+|import\s*\(\s*|^\s*import\s+)"(\.{1,2}\/[^"]+)"/gm;
  for (const match of text.matchAll(pattern)) {
    found.push(resolve(dirname(file), (match[1] as string).replace(/\.js$/, ".ts")));
  }
  return found;
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const name = (file: string) => relative(SRC, file);

describe("architecture", () => {
  it("every import points down a layer or stays in its folder", () => {
    const offenders: string[] = [];
    for (const [file, imports] of graph) {
      const from = groupOf(file);
      for (const target of imports) {
        const to = groupOf(target);
        if (from === to) continue;
        if (STANDALONE.includes(from) || STANDALONE.includes(to)) {
          offenders.push(`${name(file)} → ${name(target)}: src/hooks is standalone`);
          continue;
        }
        if (APPS.includes(from)) continue;
        if (APPS.includes(to) && !APPS.includes(from)) {
          offenders.push(`${name(file)} → ${name(target)}: product code may not use ${to}/`);
        } else if (!(rankOf(to) < rankOf(from))) {
          offenders.push(`${name(file)} (${from}) → ${name(target)} (${to})`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it("standalone scripts import only node: built-ins and their own folder", () => {
    const offenders: string[] = [];
    const bare = /(?:from\s+|import\s*\(\s*|^\s*import\s+)"([^".][^"]*)"/gm;
    for (const file of files.filter((f) => STANDALONE.includes(groupOf(f)))) {
      for (const match of readFileSync(file, "utf8").matchAll(bare)) {
        if (!(match[1] as string).startsWith("node:")) offenders.push(`${name(file)} imports ${match[1]}`);
      }
    }
    expect(files.some((f) => STANDALONE.includes(groupOf(f)))).toBe(true);
    expect(offenders).toEqual([]);
  });

  it("no module imports itself back through a loop", () => {
    const cycles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, "open");
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (state.get(next) === "open")
          cycles.push([...stack.slice(stack.indexOf(next)), next].map(name).join(" → "));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it("domain code takes narrow dependencies, not the tool context", () => {
    const offenders = files
      .filter((file) => DOMAIN.includes(groupOf(file)))
      .filter((file) => /\bToolContext\b/.test(readFileSync(file, "utf8")))
      .map(name);
    expect(offenders).toEqual([]);
  });

  it("only the server holds the token secret and imports the MCP SDK", () => {
    const offenders: string[] = [];
    for (const file of files) {
      const group = groupOf(file);
      const text = readFileSync(file, "utf8");
      if (
        group !== "server" &&
        !APPS.includes(group) &&
        /\.VYAPARAI_DEPLOY_SECRET\b|\["VYAPARAI_DEPLOY_SECRET"\]|\bcreateHmac\b/.test(text)
      )
        offenders.push(`${name(file)} reads the token secret or makes its own MAC`);
      if (group !== "server" && /@modelcontextprotocol\/sdk/.test(text) && !APPS.includes(group))
        offenders.push(`${name(file)} imports the MCP SDK`);
    }
    expect(offenders).toEqual([]);
  });
});
