import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { loadConfig } from "../config/load.js";
import { liveToolList } from "../server/live-tool-list.js";
import { TOOL_LIST_FILE, type ToolListFile } from "../server/prebuilt-tool-list.js";
import { createRuntime } from "../server/runtime.js";

/**
 * Bundles the two programs people run — the MCP server (dist/main.js) and the CLI
 * (dist/cli.js) — over the files tsc wrote, so what an MCP client spawns is a handful of files
 * instead of ~220 modules (ours, the MCP SDK's and zod's).
 *
 * Why: Node 20 has no module compile cache, and resolving, reading and compiling each ESM file
 * costs ~0.5–1 ms, which is most of a start-up that should be close to a bare SDK server's
 * (`npm run bench -- --only startup`). The AWS SDK, execa, the zipper and the other heavy parts
 * stay behind dynamic `import()`s, so they land in chunks loaded on the first tool call that
 * needs them (test/server/bundle.test.ts reads the metafile to keep it that way).
 *
 * The rest of dist/ (hooks, bench, demo, docs) stays tsc's output: the hooks run from Claude
 * Code's plugin cache with node built-ins only, and the apps are not start-up bound.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DIST = resolve(ROOT, "dist");
/** The input→output map, for the start-up test; not shipped in the package's code paths. */
export const METAFILE = resolve(DIST, "bundle-meta.json");

export async function bundlePrograms(): Promise<void> {
  await rm(resolve(DIST, "chunks"), { recursive: true, force: true });
  // Ties the bundle to the tools/list answer written below (server/prebuilt-tool-list.ts).
  const buildId = randomUUID();
  const result = await build({
    entryPoints: { main: resolve(ROOT, "src/main.ts"), cli: resolve(ROOT, "src/cli.ts") },
    absWorkingDir: ROOT,
    outdir: DIST,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // ESM builds where a package has one (the AWS SDK does): esbuild then keeps their named
    // exports as they are, instead of wrapping a CommonJS build whose exports it cannot see.
    mainFields: ["module", "main"],
    chunkNames: "chunks/[name]-[hash]",
    // Stack traces of a failure point back to src/ with --enable-source-maps; the map holds
    // no source text, so the package does not ship its dependencies twice.
    sourcemap: "linked",
    sourcesContent: false,
    metafile: true,
    define: { __VYAPARAI_BUILD_ID__: JSON.stringify(buildId) },
    legalComments: "none",
    // Fewer bytes for V8 to parse at every start (the start-up chunks hold zod and the SDK);
    // the linked source map turns stack traces back into src/ lines (--enable-source-maps).
    minify: true,
    logLevel: "warning",
    // CommonJS dependencies (yazl, parts of the AWS SDK) call require() for node built-ins;
    // ESM output has none, so each file gets one bound to its own URL.
    banner: {
      js: 'import { createRequire as __vyaparaiCreateRequire } from "node:module";\nconst require = __vyaparaiCreateRequire(import.meta.url);',
    },
  });
  await writeFile(METAFILE, `${JSON.stringify(result.metafile)}\n`);
  await writeToolList(buildId);
}

/** The SDK's tools/list answer for every tool, from tsc's output, beside the bundle it serves. */
async function writeToolList(buildId: string): Promise<void> {
  // Built-in defaults only: no deploy.config.json of this repo (or above it) takes part.
  const emptyDir = await mkdtemp(resolve(tmpdir(), "vyaparai-build-"));
  const runtime = createRuntime({ loaded: loadConfig({ cwd: emptyDir, env: {} }), env: {} });
  try {
    const file: ToolListFile = { buildId, tools: await liveToolList(runtime) };
    await writeFile(resolve(ROOT, TOOL_LIST_FILE), `${JSON.stringify(file)}\n`);
  } finally {
    runtime.close();
    await rm(emptyDir, { recursive: true, force: true });
  }
}

await bundlePrograms();
